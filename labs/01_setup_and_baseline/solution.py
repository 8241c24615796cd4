"""Lab 01's exercises, solved (``test_01_setup_and_baseline.py`` runs each through the lab's checker).

Exercise 1's string depends on the model's chat template. On the toy profile it is ``toy_prompt`` below; on ``cpu``
(SmolLM2) it is ChatML with a default system prompt: ``"<|im_start|>system\\nYou are a helpful AI assistant named
SmolLM, trained by Hugging Face<|im_end|>\\n<|im_start|>user\\nWhere does the zarp live?<|im_end|>\\n
<|im_start|>assistant\\n"``; other hub models use their own markers (print ``prompt`` from section 3).
"""


def toy_prompt(bos_token: str, eos_token: str, question: str) -> str:
    """Exercise 1 on the toy profile: BOS, the user's turn closed by EOS, then the generation prompt."""
    return f"{bos_token}<|user|>{question}{eos_token}<|assistant|>"


def parameter_count(config) -> int:
    """Exercise 2: a Llama's parameters from its config alone (biases: none; RMSNorm: one weight vector each)."""
    c = config
    kv = c.num_key_value_heads * c.hidden_size // c.num_attention_heads  # k_proj and v_proj outputs (GQA)
    per_layer = (2 * c.hidden_size**2 + 2 * c.hidden_size * kv  # q, o; k, v
                 + 3 * c.hidden_size * c.intermediate_size  # gate, up, down
                 + 2 * c.hidden_size)  # two RMSNorm weights
    embeddings = (1 if c.tie_word_embeddings else 2) * c.vocab_size * c.hidden_size  # tied: one matrix, counted once
    return embeddings + c.num_hidden_layers * per_layer + c.hidden_size  # + the final norm
