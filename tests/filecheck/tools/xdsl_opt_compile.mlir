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

// attacc (one trace per HBM3 stack), speculative decoding (4 tokens a step):
// RUN: pimc compile %examples/gpt2-small.pim --system attacc --speculate 4 -o %t/a --quiet
// RUN: pimc opt %examples/gpt2-small.pim --dim speculate=4 > %t/a.mlir
// RUN: sh -c 'xdsl-opt %t/a.mlir -p "$(pimc compile %examples/gpt2-small.pim --system attacc --print-pipeline)" -t pimc-plan -o %t/a-plan.mlir'
// RUN: cmp %t/a-plan.mlir %t/a/plan.mlir
// RUN: xdsl-opt %t/a-plan.mlir -t 'pimc-report{tokens_per_step=4}' -o %t/a-report.json && cmp %t/a-report.json %t/a/report.json
// RUN: xdsl-opt %t/a-plan.mlir -t 'pimc-attacc-trace{stack=1}' -o %t/a-stack1.trace && cmp %t/a-stack1.trace %t/a/pim.attacc.stack1.trace
// RUN: xdsl-opt %t/a-plan.mlir -t pimc-timeline -o %t/a-timeline.json && cmp %t/a-timeline.json %t/a/timeline.json

// neupims, two interleaved sub-batches of --dim batch=4 (each sub-batch is imported at batch 2):
// RUN: pimc compile %examples/gpt2-small.pim --system neupims --dim batch=4 --sub-batches 2 -o %t/n --quiet
// RUN: pimc opt %examples/gpt2-small.pim --dim batch=2 > %t/n.mlir
// RUN: sh -c 'xdsl-opt %t/n.mlir -p "$(pimc compile %examples/gpt2-small.pim --system neupims --sub-batches 2 --print-pipeline)" -t pimc-plan -o %t/n-plan.mlir'
// RUN: cmp %t/n-plan.mlir %t/n/plan.mlir
// RUN: xdsl-opt %t/n-plan.mlir -t pimc-report -o %t/n-report.json && cmp %t/n-report.json %t/n/report.json
// RUN: xdsl-opt %t/n-plan.mlir -t pimc-timeline -o %t/n-timeline.json && cmp %t/n-timeline.json %t/n/timeline.json

// A system file: the IR records the whole description, so the targets read it from the IR, not from the file,
// whatever the working directory and however the file changes afterwards.
// RUN: cp %examples/../targets/presets/npu-aim.toml %t/mysys.toml
// RUN: cd %t && pimc compile %examples/gpt2-tiny-decode.onnx --system mysys.toml -o %t/s --quiet > %t/s.stdout
// RUN: sed -i 's/^capacity_gb = 17.18$/capacity_gb = 99/' %t/mysys.toml
// RUN: mkdir -p %t/elsewhere && cd %t/elsewhere && xdsl-opt %t/s/plan.mlir -t pimc-report -o %t/s-report.json
// RUN: cmp %t/s-report.json %t/s/report.json
// A later pass naming another system than the module was costed for is an error, not a silent re-costing.
// RUN: not xdsl-opt %t/s/plan.mlir -p 'convert-pim-to-aim{system="attacc"}' 2>&1 | filecheck %s --check-prefix=OTHER
// OTHER: xdsl-opt: error: system=attacc: the module was costed for system 'mysys.toml'
