"""The ONNX frontend: shapes resolved node by node (shapes.py), then the graph imported into the nn dialect
(importer.py)."""
