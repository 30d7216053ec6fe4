"""Credit weights on hand-written completions: exactly the implicated statements' tokens."""

import numpy as np
import pytest

from render_service.types import Defect, RenderResult
from sdpo_jax.method import credit

GAMMA = 2.0

CHART = """Sure! Here is a bar chart of the sales.

```python
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(labels,
       values,
       color='tab:blue')
for i, v in enumerate(values):
    ax.text(i, v, str(v), ha='center')
ax.set_title('Sales by region')
plt.savefig('out.png')
```

The bars are labelled with their values; the title sits on top.
"""

WEB = """I made the page below.
```html
<!DOCTYPE html>
<html>
<body>
  <div class="card"><h1>Title</h1><p>Some text here.</p></div>
</body>
</html>
```
Hope it helps."""


def defects(*lines):
    return RenderResult(
        id="r",
        ok=True,
        defects=tuple(
            Defect("text_overlap", 1.0, None, "Labels overlap.", source_lines=ln) for ln in lines
        ),
    )


def credited_runs(completion, weights, offsets):
    """The completion text of each contiguous run of credited tokens, stripped."""
    runs, current = [], None
    for w, (start, end) in zip(weights, offsets):
        if w > 1:
            current = (current[0] if current else start, end)
        elif current:
            runs.append(completion[current[0] : current[1]].strip())
            current = None
    if current:
        runs.append(completion[current[0] : current[1]].strip())
    return runs


def check(completion, result, domain, tokenizer, statements, **kw):
    """Credited tokens form one run per expected statement, covering exactly its text; their
    weight is 1 + γ and every other token's is 1."""
    offsets = credit.token_offsets(tokenizer, completion)
    weights = credit.token_weights(completion, result, domain, tokenizer, gamma=GAMMA, **kw)
    assert weights.shape == (len(offsets),) and weights.dtype == np.float32
    assert set(np.unique(weights)) <= {1.0, 1.0 + GAMMA}
    assert credited_runs(completion, weights, offsets) == list(statements)
    return weights, offsets


def test_three_line_statement_in_prose_is_credited_whole(bpe_tokenizer):
    statement = "ax.bar(labels,\n       values,\n       color='tab:blue')"
    for line in (3, 4, 5):  # any line of it implicates all of it
        check(CHART, defects((line,)), "chart", bpe_tokenizer, [statement])


def test_several_defects_credit_each_statement_once(bpe_tokenizer):
    check(
        CHART,
        defects((7,), (2, 7), (8,)),
        "chart",
        bpe_tokenizer,
        [
            "fig, ax = plt.subplots(figsize=(6, 4))",
            "ax.text(i, v, str(v), ha='center')",
            "ax.set_title('Sales by region')",
        ],
    )


def test_loop_header_credits_the_header_not_the_body(bpe_tokenizer):
    check(CHART, defects((6,)), "chart", bpe_tokenizer, ["for i, v in enumerate(values):"])


def test_raw_code_without_fence(bpe_tokenizer):
    code = CHART.split("```python\n")[1].split("```")[0]
    check(code, defects((8,)), "chart", bpe_tokenizer, ["ax.set_title('Sales by region')"])


def test_html_credits_the_line(bpe_tokenizer):
    line = '<div class="card"><h1>Title</h1><p>Some text here.</p></div>'
    check(WEB, defects((4,)), "web", bpe_tokenizer, [line])


def test_failed_execution_credits_the_error_statement(bpe_tokenizer):
    error = (
        "NameError: name 'labels' is not defined (line 4)\n"
        "Traceback (generated code):\n  line 4:        values,"
    )
    failed = RenderResult(id="r", ok=False, error=error)
    statement = "ax.bar(labels,\n       values,\n       color='tab:blue')"
    check(CHART, failed, "chart", bpe_tokenizer, [statement])
    no_line = RenderResult(id="r", ok=False, error="timeout after 10 s")
    check(CHART, no_line, "chart", bpe_tokenizer, [])


def test_code_that_does_not_parse_credits_the_line(bpe_tokenizer):
    broken = CHART.replace("color='tab:blue')", "color='tab:blue'")
    check(broken, defects((4,)), "chart", bpe_tokenizer, ["values,"])


def test_offsets_may_be_given_directly(bpe_tokenizer):
    offsets = credit.token_offsets(bpe_tokenizer, CHART)
    by_tokenizer = credit.token_weights(CHART, defects((7,)), "chart", bpe_tokenizer)
    by_offsets = credit.token_weights(CHART, defects((7,)), "chart", offsets)
    assert by_offsets.max() > 1
    np.testing.assert_array_equal(by_tokenizer, by_offsets)


def test_offsets_of_sampled_ids_match_the_tokenizers(bpe_tokenizer):
    """Multi-byte characters split over tokens get the character's span, as the tokenizer's own
    offsets give it."""
    text = "Titre: café ✓ — ü\n" + CHART
    ids = bpe_tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded, offsets = credit.decode_with_offsets(bpe_tokenizer, ids)
    assert decoded == text
    assert offsets == credit.token_offsets(bpe_tokenizer, text)


def test_a_completion_cut_off_mid_character(bpe_tokenizer):
    """max_new_tokens can end a completion inside a multi-byte character: the text keeps the
    replacement character that decoding all the ids gives, and every token has its span."""
    text = "x = 1  # ✓✓"
    ids = bpe_tokenizer(text, add_special_tokens=False)["input_ids"]
    # Every cut that ends inside a character; byte-level tokens make some.
    for n in range(1, len(ids) + 1):
        whole = bpe_tokenizer.decode(ids[:n], clean_up_tokenization_spaces=False)
        decoded, offsets = credit.decode_with_offsets(bpe_tokenizer, ids[:n])
        assert decoded == whole and len(offsets) == n
        assert all(0 <= a <= b <= len(decoded) for a, b in offsets)
    cut = [
        n
        for n in range(1, len(ids))
        if credit.decode_with_offsets(bpe_tokenizer, ids[:n])[0].endswith("\ufffd")
    ]
    assert cut, "the test text must have a cut inside a character"


def test_sampled_ids_that_re_encode_differently(bpe_tokenizer):
    """A sampler may emit a non-canonical split (here: one character per token); weights follow
    the sampled tokens, not a re-encoding."""
    ids = [i for ch in CHART for i in bpe_tokenizer(ch, add_special_tokens=False)["input_ids"]]
    text, offsets = credit.decode_with_offsets(bpe_tokenizer, ids)
    assert text == CHART and len(ids) > len(credit.token_offsets(bpe_tokenizer, CHART))
    weights = credit.token_weights(text, defects((4,)), "chart", offsets, gamma=GAMMA)
    statement = "ax.bar(labels,\n       values,\n       color='tab:blue')"
    assert len(weights) == len(ids)
    assert credited_runs(text, weights, offsets) == [statement]


def test_renormalized_weights_have_mean_one(bpe_tokenizer):
    weights = credit.token_weights(
        CHART, defects((7,)), "chart", bpe_tokenizer, gamma=GAMMA, renormalize=True
    )
    np.testing.assert_allclose(weights.mean(), 1.0, rtol=1e-6)
    assert weights.max() / weights.min() == pytest.approx(1 + GAMMA)


def test_no_defects_means_uniform_weights(bpe_tokenizer):
    weights = credit.token_weights(CHART, defects(), "chart", bpe_tokenizer, gamma=GAMMA)
    assert np.all(weights == 1.0)


# --- extract_code -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion,domain,expected",
    [
        ("Intro\n```python\nx = 1\n```\nOutro", "chart", "x = 1\n"),
        ("```bash\npip install x\n```\nthen\n```python\nx = 1\n```", "chart", "x = 1\n"),
        ("```\n<p>hi</p>\n```", "web", "<p>hi</p>\n"),
        ("```css\np {}\n```\n```html\n<p>hi</p>\n```", "slide_html", "<p>hi</p>\n"),
        ("Text\n~~~py\nx = 1\n~~~", "slide_pptx", "x = 1\n"),
        ("Cut short:\n```python\nx = 1\ny = ", "chart", "x = 1\ny = "),
        ("x = 1\ny = 2\n", "chart", "x = 1\ny = 2\n"),
        ("```python\ns = '```'\n```", "chart", "s = '```'\n"),
    ],
)
def test_extract_code(completion, domain, expected):
    code, offset = credit.extract_code(completion, domain)
    assert code == expected
    assert completion[offset : offset + len(code)] == code


def test_bad_input_gives_clear_errors(bpe_tokenizer):
    with pytest.raises(ValueError, match="domain="):
        credit.extract_code("x = 1", "latex")
    with pytest.raises(ValueError, match="gamma="):
        credit.token_weights(CHART, defects(), "chart", bpe_tokenizer, gamma=-1.0)
