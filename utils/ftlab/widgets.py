"""Widgets where a knob teaches: change it, see the effect straight away."""

from __future__ import annotations

import ipywidgets as widgets

from ftlab import evaluation


def chat_vs_plain(model, tokenizer, questions: list[str]) -> widgets.VBox:
    """Pick a question and a format (chat template or plain text); shows exactly what the model sees and says."""
    question = widgets.Dropdown(options=questions, description="question")
    use_template = widgets.ToggleButtons(options=["chat template", "plain text"], description="format")
    tokens = widgets.IntSlider(value=24, min=4, max=64, step=4, description="max tokens")
    output = widgets.Output()

    def show(_=None) -> None:
        if use_template.value == "chat template":
            generation = evaluation.chat_replies(model, tokenizer, [question.value], tokens.value)[0]
        else:
            generation = evaluation.completions(model, tokenizer, [question.value], tokens.value)[0]
        output.clear_output()
        with output:
            print(f"the model sees: {generation.prompt!r}\nthe model says: {generation.text!r}")

    for control in (question, use_template, tokens):
        control.observe(show, names="value")
    show()
    return widgets.VBox([question, use_template, tokens, output])


def lora_explorer(shapes: dict, batch_size: int, seq_len: int) -> widgets.VBox:
    """Rank, alpha and target modules -> trainable parameters, adapter size and training-memory estimate."""
    from ftlab.estimate import GIB, estimate_training, lora_parameters

    model = widgets.Dropdown(options=list(shapes), description="model")
    rank = widgets.SelectionSlider(options=[1, 2, 4, 8, 16, 32, 64, 128], value=16, description="rank r")
    alpha = widgets.IntSlider(value=32, min=1, max=256, description="alpha")
    targets = widgets.SelectMultiple(options=list(next(iter(shapes.values())).linear_shapes()),
                                     value=["q_proj", "v_proj"], description="targets", rows=7)
    output = widgets.Output()

    def show(_=None) -> None:
        shape, chosen = shapes[model.value], list(targets.value)
        output.clear_output()
        with output:
            if not chosen:
                print("pick at least one target module")
                return
            trainable = lora_parameters(shape, rank.value, chosen)
            lora = estimate_training(shape, weight_bits=16, lora_r=rank.value, targets=chosen,
                                     batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=True)
            qlora = estimate_training(shape, weight_bits=4, lora_r=rank.value, targets=chosen,
                                      batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=True)
            print(f"trainable: {trainable:,} of {shape.parameters:,} parameters ({trainable / shape.parameters:.3%})")
            print(f"adapter file: {trainable * 4 / 2**20:,.1f} MiB in float32 (the base model is not in it)")
            print(f"scaling alpha/r = {alpha.value / rank.value:g}: how strongly the update counts")
            print(f"training memory, batch {batch_size} x {seq_len} tokens, checkpointing: "
                  f"LoRA bf16 ≈ {lora.total / GIB:,.1f} GiB, QLoRA 4-bit ≈ {qlora.total / GIB:,.1f} GiB")

    for control in (model, rank, alpha, targets):
        control.observe(show, names="value")
    show()
    return widgets.VBox([model, rank, alpha, targets, output])


def gguf_playground(runners: dict[str, object], hf_replies: dict[str, str]) -> widgets.VBox:
    """Ask the exported GGUF files in llama.cpp: pick a question, a format and a temperature; the HF model's greedy
    reply is shown for comparison, with whether the GGUF's reply stopped at EOS."""
    from ftlab import export

    question = widgets.Dropdown(options=list(hf_replies), description="question")
    fmt = widgets.ToggleButtons(options=list(runners), description="format")
    temperature = widgets.FloatSlider(value=0.0, min=0.0, max=1.5, step=0.25, description="temperature")
    output = widgets.Output()

    def show(_=None) -> None:
        reply, finish = export.chat(runners[fmt.value], question.value, temperature=temperature.value)
        output.clear_output()
        with output:
            print(f"HF (greedy):    {hf_replies[question.value]!r}")
            print(f"{fmt.value} GGUF:{' ' * max(1, 10 - len(fmt.value))}{reply!r}  (finish_reason={finish!r})")

    for control in (question, fmt, temperature):
        control.observe(show, names="value")
    show()
    return widgets.VBox([question, fmt, temperature, output])


# ---------------------------------------------------------------------------------------------------------------
# A knob for every method (Labs 04-08): each answers with a plot at once; nothing trains inside a callback.
# The ``*_figure`` functions draw one setting; the widgets redraw them when a knob moves.
# ---------------------------------------------------------------------------------------------------------------

def _plot_in(output: widgets.Output, figure) -> None:
    """Show ``figure`` in ``output`` in place of what was there."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    output.clear_output(wait=True)
    with output:
        display(figure)
    plt.close(figure)


def _knobs(controls: list, draw) -> widgets.VBox:
    """The controls above a plot that ``draw(output)`` redraws whenever one of them moves."""
    output = widgets.Output()

    def show(_=None) -> None:
        draw(output)

    for control in controls:
        control.observe(show, names="value")
    show()
    return widgets.VBox([*controls, output])


NF4_BLOCK_SIZES = [32, 64, 128, 256, 512]


def nf4_figure(weight, block_size: int, quant_type: str, double_quant: bool):
    """Relative error and stored bits per weight of ``weight`` in 4 bits, for every block size; the chosen setting
    marked."""
    import matplotlib.pyplot as plt

    from ftlab import quantization

    fig, (error_ax, bits_ax) = plt.subplots(1, 2, figsize=(9, 3))
    for kind, color in [("nf4", "tab:blue"), ("fp4", "tab:orange")]:
        runs = [quantization.roundtrip(weight, size, kind, double_quant) for size in NF4_BLOCK_SIZES]
        error_ax.plot(NF4_BLOCK_SIZES, [r.relative_error for r in runs], "o-", color=color, label=kind.upper())
        bits_ax.plot(NF4_BLOCK_SIZES, [r.bits_per_weight for r in runs], "o-", color=color, label=kind.upper())
    chosen = quantization.roundtrip(weight, block_size, quant_type, double_quant)
    error_ax.plot([block_size], [chosen.relative_error], "k*", markersize=14, label="your setting")
    bits_ax.plot([block_size], [chosen.bits_per_weight], "k*", markersize=14)
    for ax, label in [(error_ax, "relative error"), (bits_ax, "bits per weight (codes + scales)")]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("block size")
        ax.set_ylabel(label)
    error_ax.legend(fontsize=8)
    fig.suptitle(f"{quant_type.upper()}, blocks of {block_size}, double quantisation {'on' if double_quant else 'off'}:"
                 f" error {chosen.relative_error:.1%}, {chosen.bits_per_weight:.3f} bits per weight")
    fig.tight_layout()
    return fig


def nf4_explorer(weight) -> widgets.VBox:
    """Lab 04: block size, NF4 or FP4, double quantisation on or off -> error and bits per weight of one of the
    model's own weight matrices."""
    block = widgets.SelectionSlider(options=NF4_BLOCK_SIZES, value=64, description="block size")
    kind = widgets.ToggleButtons(options=["nf4", "fp4"], description="data type")
    double = widgets.Checkbox(value=True, description="double quantisation")
    return _knobs([block, kind, double], lambda out: _plot_in(out, nf4_figure(weight, block.value, kind.value,
                                                                              double.value)))


def neftune_figure(alpha: float, dim: int, embedding_size: float, lengths=(8, 32, 128, 512, 2048)):
    """NEFTune's bound alpha/sqrt(L·d) against the sequence length L, next to the model's typical embedding value."""
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = np.array(lengths, dtype=float)
    bounds = alpha / np.sqrt(lengths * dim)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(lengths, bounds, "o-", label=f"bound alpha/sqrt(L·d), alpha={alpha:g}, d={dim}")
    ax.axhline(embedding_size, color="black", ls="--", label=f"typical |embedding value| ({embedding_size:.3g})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L (tokens)")
    ax.set_ylabel("largest change per value")
    ax.legend(fontsize=8)
    crossing = alpha**2 / (embedding_size**2 * dim)  # the L at which the bound equals the typical value
    ax.set_title(f"noise ≥ signal for sequences shorter than {crossing:,.0f} tokens")
    fig.tight_layout()
    return fig


def neftune_explorer(dim: int, embedding_size: float) -> widgets.VBox:
    """Lab 05: alpha and the embedding width d -> the noise bound against sequence length, relative to the model's
    own embedding values."""
    alpha = widgets.FloatSlider(value=5.0, min=0.0, max=20.0, step=1.0, description="alpha")
    width = widgets.SelectionSlider(options=sorted({dim, 128, 576, 2048, 4096}), value=dim, description="d")
    return _knobs([alpha, width], lambda out: _plot_in(out, neftune_figure(alpha.value, width.value, embedding_size)))


def dpo_figure(beta: float, margins=None):
    """DPO's loss −log σ(β·m) and its gradient's weight β·σ(−β·m) against the margin m; ``margins`` of a real batch
    as ticks, with their mean loss."""
    import matplotlib.pyplot as plt
    import torch

    m = torch.linspace(-30, 30, 301, dtype=torch.float64)
    fig, (loss_ax, weight_ax) = plt.subplots(1, 2, figsize=(9, 3))
    loss_ax.plot(m, -torch.nn.functional.logsigmoid(beta * m), label=f"β = {beta:.3g}")
    weight_ax.plot(m, beta * torch.sigmoid(-beta * m))
    title = f"β = {beta:.3g}"
    if margins is not None and len(margins):
        batch = torch.tensor(list(margins), dtype=torch.float64)
        loss_ax.plot(batch, -torch.nn.functional.logsigmoid(beta * batch), "k|", markersize=12,
                     label="this batch's pairs")
        title += f": mean loss of the batch {(-torch.nn.functional.logsigmoid(beta * batch)).mean():.3f}"
    loss_ax.set(xlabel="margin m (nats)", ylabel="−log σ(β·m)", title="loss")
    weight_ax.set(xlabel="margin m (nats)", ylabel="β·σ(−β·m)", title="how hard a pair pushes (gradient weight)")
    loss_ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def dpo_beta_explorer(margins=None) -> widgets.VBox:
    """Lab 06: β -> DPO's loss and gradient weight against the margin (and on a real batch's margins)."""
    beta = widgets.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=0.1, description="β")
    return _knobs([beta], lambda out: _plot_in(out, dpo_figure(beta.value, margins)))


def simpo_figure(beta: float, gamma: float, gaps=None):
    """SimPO's loss −log σ(β·Δ − γ) against the per-token gap Δ; a pair counts as won once Δ > γ/β."""
    import matplotlib.pyplot as plt
    import torch

    delta = torch.linspace(-2, 2, 201, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(delta, -torch.nn.functional.logsigmoid(beta * delta - gamma), label=f"β = {beta:g}, γ = {gamma:g}")
    ax.plot(delta, -torch.nn.functional.logsigmoid(beta * delta), ls=":", color="grey", label="γ = 0")
    ax.axvline(gamma / beta, color="tab:red", lw=0.8, label=f"target gap γ/β = {gamma / beta:.2f}")
    title = f"β = {beta:g}, γ = {gamma:g}"
    if gaps is not None and len(gaps):
        batch = torch.tensor(list(gaps), dtype=torch.float64)
        ax.plot(batch, -torch.nn.functional.logsigmoid(beta * batch - gamma), "k|", markersize=12,
                label="this batch's pairs")
        title += f": {(batch < gamma / beta).float().mean():.0%} of the batch still below the target"
    ax.set(xlabel="Δ = avg log-prob per token, chosen − rejected", ylabel="loss", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def simpo_gamma_explorer(gaps=None, beta: float = 2.0) -> widgets.VBox:
    """Lab 07: β and γ -> SimPO's loss against the per-token gap, and how much of a real batch is still 'not won'."""
    beta_knob = widgets.FloatSlider(value=beta, min=0.5, max=5.0, step=0.5, description="β")
    gamma = widgets.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.1, description="γ")
    return _knobs([beta_knob, gamma], lambda out: _plot_in(out, simpo_figure(beta_knob.value, gamma.value, gaps)))


def orpo_figure(lam: float, nll: float, log_odds_ratio: float | None = None):
    """ORPO's loss nll − λ·log σ(r) against the log odds ratio r: the SFT part and the penalty, stacked."""
    import matplotlib.pyplot as plt
    import torch

    r = torch.linspace(-6, 6, 241, dtype=torch.float64)
    penalty = -lam * torch.nn.functional.logsigmoid(r)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.fill_between(r, 0, nll, color="tab:blue", alpha=0.4, label=f"SFT part (nll {nll:.2f})")
    ax.fill_between(r, nll, nll + penalty, color="tab:orange", alpha=0.5, label=f"penalty −λ·log σ(r), λ = {lam:g}")
    title = f"λ = {lam:g}"
    if log_odds_ratio is not None:
        point = nll - lam * float(torch.nn.functional.logsigmoid(torch.tensor(log_odds_ratio, dtype=torch.float64)))
        ax.plot([log_odds_ratio], [point], "k*", markersize=12, label="the last logged batch, at its mean r")
        title += f": loss {point:.3f}, of which the penalty is {(point - nll) / point:.0%}"
    ax.set(xlabel="log odds ratio r = log odds(chosen) − log odds(rejected)", ylabel="loss", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def orpo_lambda_explorer(nll: float, log_odds_ratio: float | None = None) -> widgets.VBox:
    """Lab 08: λ -> how much of ORPO's loss is the preference penalty, against the log odds ratio."""
    lam = widgets.FloatSlider(value=0.1, min=0.0, max=2.0, step=0.05, description="λ")
    return _knobs([lam], lambda out: _plot_in(out, orpo_figure(lam.value, nll, log_odds_ratio)))
