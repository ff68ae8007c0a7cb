"""``JSONText``: a value already encoded as JSON, which stores keep as it is; and
``many_encoder``, for encoding many values in a row."""

from __future__ import annotations

import json
from collections.abc import Callable


class JSONText(str):
    """A value already encoded as JSON text. ``map()`` encodes every job's inputs once to
    check them; stores keep this text as it is instead of encoding the value again."""


def many_encoder(encoder: json.JSONEncoder) -> Callable[[object], str]:
    """A function that encodes like ``encoder.encode``, for many values in a row.

    ``JSONEncoder.encode`` makes json's C encoder anew for every call, which costs more
    than encoding a small value (a job's inputs, a statistics document); this one makes
    it once, with the encoder's own settings, so the text and the errors are the same.
    Where json has no C encoder, or it takes other arguments than in CPython 3.11, it is
    ``encoder.encode`` itself.
    """
    from json import encoder as json_encoder

    make_c = getattr(json_encoder, "c_make_encoder", None)
    if make_c is None or encoder.indent is not None:
        return encoder.encode

    def make():
        # As JSONEncoder.iterencode makes it, with fresh circular-reference marks.
        return make_c(
            {} if encoder.check_circular else None, encoder.default,
            json_encoder.encode_basestring_ascii if encoder.ensure_ascii
            else json_encoder.encode_basestring,
            encoder.indent, encoder.key_separator, encoder.item_separator,
            encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)

    sample = [0.5, {"a": None, "b": [1, "\u00e9\n"]}, True]
    try:
        c_encode = make()
        if "".join(c_encode(sample, 0)) != encoder.encode(sample):
            return encoder.encode
    except Exception:  # another signature: the one-by-one way
        return encoder.encode

    def dumps(value: object) -> str:
        nonlocal c_encode
        try:
            return "".join(c_encode(value, 0))
        except BaseException:
            if encoder.check_circular:
                c_encode = make()  # its marks may still hold the failed value's containers
            raise
    return dumps
