// Stock xdsl-opt runs `pimc compile`'s whole pipeline (`pimc compile --print-pipeline`) on the IR `pimc opt`
// imports, and its targets write, from the printed IR alone, what `pimc compile` writes, byte for byte.

// attacc (one trace per HBM3 stack), speculative decoding (4 tokens a step):
// RUN: rm -rf %t && mkdir -p %t
// RUN: pimc compile %examples/gpt2-small.pim --system attacc --speculate 4 -o %t/a --quiet
// RUN: pimc opt %examples/gpt2-small.pim --dim speculate=4 > %t/a.mlir
// RUN: sh -c 'xdsl-opt %t/a.mlir -p "$(pimc compile %examples/gpt2-small.pim --system attacc --print-pipeline)" -t pimc-plan -o %t/a-plan.mlir'
// RUN: cmp %t/a-plan.mlir %t/a/plan.mlir
// RUN: xdsl-opt %t/a-plan.mlir -t 'pimc-report{tokens_per_step=4}' -o %t/a-report.json && cmp %t/a-report.json %t/a/report.json
// RUN: xdsl-opt %t/a-plan.mlir -t 'pimc-attacc-trace{stack=1}' -o %t/a-stack1.trace && cmp %t/a-stack1.trace %t/a/pim.attacc.stack1.trace
// RUN: xdsl-opt %t/a-plan.mlir -t pimc-timeline -o %t/a-timeline.json && cmp %t/a-timeline.json %t/a/timeline.json
