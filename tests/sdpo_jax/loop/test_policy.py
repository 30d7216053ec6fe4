"""What ends a completion."""

from models.qwen3_vl.tokenizer import ChatEncoder
from sdpo_jax.loop.policy import eos_ids


def test_a_completion_ends_at_the_end_of_turn_and_at_the_end_of_text():
    """Qwen3-VL's generation config stops at <|im_end|> and <|endoftext|>; the second was
    missing, so a policy that wrote it ran on to the length limit."""
    tokenizer = ChatEncoder.tiny().tokenizer
    ends = {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    assert set(eos_ids(tokenizer)) == ends and len(ends) == 2
