// RUN: rm -f %t.png && xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t 'pimc-roofline{path="%t.png"}' | filecheck %s
// RUN: python3 -c "import sys; sys.exit(open(sys.argv[1], 'rb').read(8) != b'\x89PNG\r\n\x1a\n')" %t.png
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-roofline 2>&1 | filecheck %s --check-prefix=NOPATH

// roofline.png is binary: the target writes it to `path` and names the file on its text stream.
// CHECK: wrote {{.*}}.png
// NOPATH: error: pimc-roofline writes a PNG file: name it
