// Stock xdsl-opt runs `pimc compile`'s whole pipeline (`pimc compile --print-pipeline`) on the IR `pimc opt`
// imports, and its targets write, from the printed IR alone, what `pimc compile` writes, byte for byte.

// neupims, two interleaved sub-batches of --dim batch=4 (each sub-batch is imported at batch 2):
// RUN: rm -rf %t && mkdir -p %t
// RUN: pimc compile %examples/gpt2-small.pim --system neupims --dim batch=4 --sub-batches 2 -o %t/n --quiet
// RUN: pimc opt %examples/gpt2-small.pim --dim batch=2 > %t/n.mlir
// RUN: sh -c 'xdsl-opt %t/n.mlir -p "$(pimc compile %examples/gpt2-small.pim --system neupims --sub-batches 2 --print-pipeline)" -t pimc-plan -o %t/n-plan.mlir'
// RUN: cmp %t/n-plan.mlir %t/n/plan.mlir
// RUN: xdsl-opt %t/n-plan.mlir -t pimc-report -o %t/n-report.json && cmp %t/n-report.json %t/n/report.json
// RUN: xdsl-opt %t/n-plan.mlir -t pimc-timeline -o %t/n-timeline.json && cmp %t/n-timeline.json %t/n/timeline.json
