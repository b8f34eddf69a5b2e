// Stock xdsl-opt runs `pimc compile`'s whole pipeline (`pimc compile --print-pipeline`) on the IR `pimc opt`
// imports, and its targets write, from the printed IR alone, what `pimc compile` writes, byte for byte.

// npu-aim (AiM trace), with the baselines:
// RUN: rm -rf %t && mkdir -p %t
// RUN: pimc compile %examples/gpt2-small.pim -o %t/c > %t/c.stdout
// RUN: pimc opt %examples/gpt2-small.pim > %t/in.mlir
// RUN: sh -c 'xdsl-opt %t/in.mlir -p "$(pimc compile %examples/gpt2-small.pim --print-pipeline)" -t pimc-plan -o %t/plan.mlir'
// RUN: cmp %t/plan.mlir %t/c/plan.mlir
// RUN: xdsl-opt %t/plan.mlir -t pimc-report -o %t/report.json && cmp %t/report.json %t/c/report.json
// RUN: xdsl-opt %t/plan.mlir -t pimc-timeline -o %t/timeline.json && cmp %t/timeline.json %t/c/timeline.json
// RUN: xdsl-opt %t/plan.mlir -t pimc-aim-trace -o %t/aim.trace && cmp %t/aim.trace %t/c/pim.aim.trace
// RUN: xdsl-opt %t/plan.mlir -t 'pimc-roofline{path="%t/roofline.png"}' | filecheck %s --check-prefix=ROOF
// RUN: cmp %t/roofline.png %t/c/roofline.png
// RUN: xdsl-opt %t/plan.mlir -t pimc-table -o %t/table && head -n -1 %t/c.stdout | cmp - %t/table
// ROOF: wrote {{.*}}roofline.png
