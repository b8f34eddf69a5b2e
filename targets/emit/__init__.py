"""The outputs, as xDSL targets reading only the compiled IR: plan.mlir, report.json, the table, timeline.json,
roofline.png and the PIM simulators' traces (target `pimc-X` is `X.py` here)."""
