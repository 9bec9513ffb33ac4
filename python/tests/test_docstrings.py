"""The docstrings' examples (``>>>``) run as written and print what they say."""

import doctest

import tokenrisk


def test_docstring_examples_run():
    result = doctest.testmod(tokenrisk, extraglobs={"tokenrisk": tokenrisk}, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4, "the docstrings lost their examples"
    assert result.failed == 0
