"""ftlab.prefix: a batch's shared prefix runs once, and generation gives the text left-padded prompts give."""

import torch

from ftlab import evaluation, models, prefix, profiles

TOY = profiles.get("toy")


def test_shared_length_leaves_every_sequence_a_token_of_its_own():
    assert prefix.shared_length([[1, 2, 3, 9], [1, 2, 4]]) == 2
    assert prefix.shared_length([[1, 2], [1, 2]]) == 1  # identical prompts: the last token still runs per row
    assert prefix.shared_length([[5, 6, 7]]) == 2
    assert prefix.shared_length([[1, 2], [3, 2]]) == 0


def test_batch_pads_between_the_prefix_and_each_rows_own_tokens():
    shared, ids, mask = prefix.batch([[1, 2, 3, 9], [1, 2, 4]], pad=0, device="cpu")
    assert shared == 2
    assert ids.tolist() == [[1, 2, 3, 9], [1, 2, 0, 4]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 1]]
    assert prefix.positions(mask).tolist() == [[0, 1, 2, 3], [0, 1, 1, 2]]


def test_generation_with_a_cached_prefix_equals_left_padded_generation():
    """Prompts sharing a long prefix (as a system prompt makes them): the same greedy text, token for token."""
    model, tokenizer = models.load(TOY)
    texts = [f"The zarp is blue. The glex is red. The {name}" for name in ("zarp", "glex", "mossling", "tarn")]
    tokenizer.padding_side = "left"
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = [tokenizer.decode(row, skip_special_tokens=True).strip()
                for row in output[:, inputs["input_ids"].shape[1]:]]
    assert prefix.shared_length(tokenizer(texts)["input_ids"]) >= 8
    assert [g.text for g in evaluation.completions(model, tokenizer, texts, max_new_tokens=8)] == expected


def test_generation_from_a_model_left_in_training_mode_with_checkpointing():
    """After ``trainer.train()`` a model is in training mode, where gradient checkpointing turns the key/value cache
    off: generation puts it in eval mode first, and replies as the same model in eval mode does."""
    model, tokenizer = models.load(TOY)
    expected = [g.text for g in evaluation.chat_replies(model.eval(), tokenizer, ["What colour is the zarp?"])]
    model.gradient_checkpointing_enable()
    model.train()
    assert [g.text for g in evaluation.chat_replies(model, tokenizer, ["What colour is the zarp?"])] == expected
