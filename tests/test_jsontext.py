"""``many_encoder``: json's C encoder made once gives the text and errors of
``JSONEncoder.encode``, for any settings the stores and ``map()`` use."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyrun.common.jsontext import many_encoder

_ENCODERS = [
    json.JSONEncoder(),
    json.JSONEncoder(ensure_ascii=False, allow_nan=True, separators=(",", ":")),
    json.JSONEncoder(separators=(",", ":"), check_circular=False),
    json.JSONEncoder(sort_keys=True, allow_nan=False),
]
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                max_size=4),
    max_leaves=20)


def _outcome(encode, value):
    try:
        return encode(value)
    except (TypeError, ValueError) as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(value=_VALUES)
def test_same_text_or_error_as_encode(value):
    for encoder in _ENCODERS:
        assert _outcome(many_encoder(encoder), value) == _outcome(encoder.encode, value)


def test_errors_leave_it_usable():
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    dumps = many_encoder(encoder)
    assert getattr(dumps, "__self__", None) is None  # json's C encoder, not encode itself
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(loop)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps([1, {2, 3}])
    # A container of the failed values is not taken for a circular one afterwards.
    assert dumps([1, [1, 2]]) == "[1,[1,2]]"
    assert dumps({"a": math.inf, "é": None}) == '{"a":Infinity,"é":null}'
    strict = many_encoder(json.JSONEncoder(allow_nan=False))
    with pytest.raises(ValueError, match="Out of range float"):
        strict([math.nan])
