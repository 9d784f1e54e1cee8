"""registry.domain.text: text from the chain made storable, with flags saying what changed."""

from registry.domain.text import original_keccak, storable


def test_storable_text_is_unchanged_and_unflagged():
    text = storable("retiree", "Ferry operator hf. — Reykjavík\ttab\nline", 500)
    assert text.text == "Ferry operator hf. — Reykjavík\ttab\nline" and text.flags == ()


def test_unstorable_characters_are_removed_and_the_original_keccak_kept():
    value = "a\x00b\x07c\ufffed\ud800e"
    text = storable("comment", value, 2000)
    assert text.text == "abcde"
    assert text.flags == (f"comment: 4 character(s) that cannot be stored removed (received keccak "
                          f"{original_keccak(value)})",)


def test_over_long_text_is_truncated_to_the_limit():
    text = storable("retiree", "x" * 501, 500)
    assert text.text == "x" * 500
    assert text.flags == (f"retiree: 501 characters truncated to 500 (received keccak {original_keccak('x' * 501)})",)
    assert storable("retiree", "x" * 500, 500).flags == ()


def test_the_keccak_is_of_the_utf8_bytes():
    assert original_keccak("") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
