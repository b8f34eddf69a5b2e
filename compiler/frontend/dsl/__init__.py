"""The DSL frontend: `.pim` files (docs/dsl.md) parsed with lark (dsl.lark, parse.py) and elaborated into the nn
dialect (importer.py)."""
