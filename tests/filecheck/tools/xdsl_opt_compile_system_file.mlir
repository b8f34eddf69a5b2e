// Stock xdsl-opt runs `pimc compile`'s whole pipeline (`pimc compile --print-pipeline`) on the IR `pimc opt`
// imports, and its targets write, from the printed IR alone, what `pimc compile` writes, byte for byte.

// A system file: the IR records the whole description, so the targets read it from the IR, not from the file,
// whatever the working directory and however the file changes afterwards.
// RUN: rm -rf %t && mkdir -p %t
// RUN: cp %examples/../targets/presets/npu-aim.toml %t/mysys.toml
// RUN: cd %t && pimc compile %examples/gpt2-tiny-decode.onnx --system mysys.toml -o %t/s --quiet > %t/s.stdout
// RUN: sed -i 's/^capacity_gb = 17.18$/capacity_gb = 99/' %t/mysys.toml
// RUN: mkdir -p %t/elsewhere && cd %t/elsewhere && xdsl-opt %t/s/plan.mlir -t pimc-report -o %t/s-report.json
// RUN: cmp %t/s-report.json %t/s/report.json
// A later pass naming another system than the module was costed for is an error, not a silent re-costing.
// RUN: not xdsl-opt %t/s/plan.mlir -p 'convert-pim-to-aim{system="attacc"}' 2>&1 | filecheck %s --check-prefix=OTHER
// OTHER: xdsl-opt: error: system=attacc: the module was costed for system 'mysys.toml'
