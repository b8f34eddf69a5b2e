"""The `.pim` grammar (dsl.lark, an LALR grammar for lark) and its syntax errors: `file:line:column: message`,
then the source line and a caret under the column."""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from pimc.errors import ModelImportError

GRAMMAR = Path(__file__).with_name("dsl.lark")
"""The grammar of `.pim` files."""


_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "$END": "end of file",
}


_EXPR_START = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "MINUS"}


_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "DSLASH", "DOT", "LPAR", "EQUAL"}


_STMT_START = {"MODEL", "PARAM", "PHASE", "INPUT", "WEIGHT", "CACHE", "OUTPUT", "REPEAT"}


Loc = tuple[int, int]
"""(line, column), both 1-based."""


@functools.cache
def parser() -> Lark:
    # the basic lexer keeps keywords keywords everywhere (`output` is never read as a name)
    return Lark.open(str(GRAMMAR), parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True)


class Source:
    def __init__(self, text: str, path: str):
        self.text = text
        self.path = path
        self.lines = text.splitlines()

    def error(self, loc: Loc, message: str) -> ModelImportError:
        line, column = loc
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        pad = "".join("\t" if c == "\t" else " " for c in src[: max(column - 1, 0)])
        error = ModelImportError(f"{self.path}:{line}:{column}: {message}\n{src}\n{pad}^")
        error.context_lines = 2
        return error


def location(node: Tree[Token] | Token) -> Loc:
    if isinstance(node, Token):
        return (node.line or 1, node.column or 1)
    return (node.meta.line, node.meta.column)


def _describe_expected(expected: set[str]) -> str:
    words: list[str] = []
    rest = set(expected)
    if rest & _STMT_START and "NAME" in rest:
        words.append("a statement")
        rest -= _STMT_START | {"NAME"}
    if len(rest & _EXPR_START) >= 3:
        words.append("an expression")
        rest -= _EXPR_START
    if len(rest & _OPERATORS) >= 3:
        rest -= _OPERATORS
        operator = True
    else:
        operator = False
    terminals = {t.name: t for t in parser().terminals}
    for name in sorted(rest):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
        elif name in terminals and terminals[name].pattern.type == "str":
            words.append(f"'{terminals[name].pattern.value}'")
        else:
            words.append(name)
    if operator:
        words.append("an operator")
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def parse(source: Source) -> Tree[Token]:
    try:
        return parser().parse(source.text)
    except UnexpectedCharacters as e:
        char = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else ""
        raise source.error((e.line, e.column), f"unexpected character {char!r}") from None
    except UnexpectedToken as e:
        token = e.token
        expected = _describe_expected(set(e.accepts or e.expected))
        if token.type == "$END":
            end = (token.end_line or len(source.lines) or 1, token.end_column or 1)
            raise source.error(end, f"unexpected end of file; expected {expected}") from None
        raise source.error(location(token), f"unexpected '{token.value}'; expected {expected}") from None
    except UnexpectedInput as e:  # UnexpectedEOF and any other lark input error
        raise source.error((max(e.line, 1), max(e.column, 1)), "syntax error") from None
