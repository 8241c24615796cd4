"""ftlab.losses and ftlab.preference: the hand-written DPO, SimPO, ORPO and KTO losses equal TRL's on the same
inputs; trainers are configured from the profile; measurements, records and the Lab 06-09 checkers behave."""

import copy
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from trl import DPOTrainer, KTOTrainer

from ftlab import comparison, data, evaluation, labs, losses, models, preference, profiles, sft

LAB06, LAB07, LAB08, LAB09 = (labs.get(n).module() for n in ("06", "07", "08", "09"))  # the labs' checkers

TOY = profiles.get("toy")


def moved_trainer(method):
    """A trainer whose fresh LoRA adapter is randomised, so the policy differs from the reference (the SFT model)."""
    trainer = preference.make_trainer(method, TOY)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in trainer.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    return trainer


@pytest.fixture(scope="module")
def trainers():
    return {method: moved_trainer(method) for method in preference.METHODS}


def test_dpo_loss_by_hand_equals_trl(trainers):
    trainer = trainers["dpo"]
    batch, model = preference.tiny_batch(trainer), trainer.model
    with torch.no_grad():
        policy = losses.completion_logps(model, batch["input_ids"], batch["attention_mask"],
                                         batch["completion_mask"])
        with model.disable_adapter():  # the reference: the SFT model, adapter off
            reference = losses.completion_logps(model, batch["input_ids"], batch["attention_mask"],
                                                batch["completion_mask"])
        (chosen, rejected), (ref_chosen, ref_rejected) = policy.chunk(2), reference.chunk(2)
        mine = losses.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, trainer.args.beta)
        theirs = trainer.compute_loss(model, batch)
    assert trainer.ref_model is None  # PEFT: no second copy of the model
    assert not torch.allclose(policy, reference)  # the check is not the trivial log 2 of an untrained adapter
    assert abs(mine.item() - theirs.item()) < 1e-5


def _pair_averages(model, batch):
    return [losses.completion_logps(model, batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"],
                                    batch[f"{side}_labels"] != -100, average=True)
            for side in ("chosen", "rejected")]


def test_simpo_loss_by_hand_equals_trl(trainers):
    trainer = trainers["simpo"]
    assert (trainer.args.loss_type, trainer.args.cpo_alpha) == ("simpo", 0.0)
    batch, model = preference.tiny_batch(trainer), trainer.model
    with torch.no_grad():
        chosen, rejected = _pair_averages(model, batch)
        mine = losses.simpo_loss(chosen, rejected, trainer.args.beta, trainer.args.simpo_gamma)
        assert abs(mine.item() - trainer.compute_loss(model, batch).item()) < 1e-5
    # TRL's own loss function on made-up log-probabilities, the same inputs for both
    made_up = torch.tensor([-0.2, -1.5, -0.7]), torch.tensor([-0.9, -0.4, -2.0])
    theirs = trainer.cpo_loss(*made_up)[0].mean()
    assert abs(losses.simpo_loss(*made_up, trainer.args.beta, trainer.args.simpo_gamma) - theirs) < 1e-6


def test_orpo_loss_by_hand_equals_trl(trainers):
    trainer = trainers["orpo"]
    batch, model = preference.tiny_batch(trainer), trainer.model
    with torch.no_grad():
        chosen, rejected = _pair_averages(model, batch)
        token_logps = losses.token_logps(model, batch["chosen_input_ids"], batch["chosen_attention_mask"])
        mask = batch["chosen_attention_mask"][:, 1:].float()  # TRL's ORPO: NLL over prompt *and* answer tokens
        nll = -(token_logps * mask).sum() / mask.sum()
        mine = losses.orpo_loss(chosen, rejected, nll, trainer.args.beta)
        assert abs(mine.item() - trainer.compute_loss(model, batch).item()) < 1e-5
    made_up = torch.tensor([-0.2, -1.5, -0.7]), torch.tensor([-0.9, -0.4, -2.0])
    theirs = 1.3 - trainer.odds_ratio_loss(*made_up)[0].mean()
    assert abs(losses.orpo_loss(*made_up, torch.tensor(1.3), trainer.args.beta) - theirs) < 1e-6


def test_kto_loss_by_hand_equals_trl(trainers):
    trainer = trainers["kto"]
    batch, model = preference.tiny_batch(trainer, 6), trainer.model
    assert 0 < batch["label"].sum() < len(batch["label"])  # both kinds of example in the batch

    def logps(prefix=""):
        return losses.completion_logps(model, batch[f"{prefix}input_ids"], batch[f"{prefix}attention_mask"],
                                       batch[f"{prefix}completion_mask"])

    def reference_point():
        with model.disable_adapter():
            reference_mismatched = logps("KL_")
        return losses.kto_reference_point(logps("KL_"), reference_mismatched)

    with torch.no_grad():
        if reference_point() == 0:  # the random adapter lowered the mismatched answers: move it the other way, so
            for name, parameter in model.named_parameters():  # the batch exercises z0 above its clamp at 0
                if "lora_B" in name:
                    parameter.neg_()
        z0 = reference_point()
        policy = logps()
        with model.disable_adapter():
            reference = logps()
        mine = losses.kto_loss(policy, reference, batch["label"], z0, trainer.args.beta)
        assert abs(mine.item() - trainer.compute_loss(model, batch).item()) < 1e-5
    assert z0 > 0


def test_hand_losses_on_known_values():
    assert torch.isclose(losses.dpo_loss(*torch.zeros(4, 2), beta=0.1), torch.log(torch.tensor(2.0)))
    big = torch.tensor([50.0])
    assert losses.dpo_loss(big, -big, torch.zeros(1), torch.zeros(1), beta=0.1) < 1e-4
    # SimPO with a target margin: a tie costs more than log 2
    assert losses.simpo_loss(torch.tensor([-1.0]), torch.tensor([-1.0]), 2.0, 0.5) > torch.log(torch.tensor(2.0))
    p = torch.tensor([0.3])
    assert torch.isclose(losses.log_odds(p.log()), torch.log(p / (1 - p)))
    labels = torch.tensor([True, False])
    same = torch.zeros(2)
    assert torch.isclose(losses.kto_loss(same, same, labels, torch.tensor(0.0), beta=0.1), torch.tensor(0.5))


def test_configs_follow_the_profile():
    for method in preference.METHODS:
        args = preference.config(method, TOY)
        assert (args.max_steps, args.learning_rate) == (TOY.preference_steps, TOY.preference_learning_rate)
        assert not args.bf16 and not args.fp16 and args.use_cpu  # CPU: full precision, whatever TRL defaults to
        assert args.max_length == TOY.max_seq_length and not args.activation_checkpointing
    assert preference.config("kto", TOY).per_device_train_batch_size == 2 * TOY.batch_size  # same answers per step
    assert preference.config("kto", TOY).train_sampling_strategy == "sequential"
    assert preference.config("dpo", TOY, max_steps=3).max_steps == 3
    with pytest.raises(ValueError, match="unknown preference method 'ipo'; choose one of dpo, simpo, orpo, kto"):
        preference.config("ipo", TOY)


def test_start_model_is_the_sft_model():
    model, tokenizer = preference.start_model(TOY)
    base, _ = models.load(TOY)
    sft_model = PeftModel.from_pretrained(base, sft.ensure_sft_adapter(TOY)).eval()
    ids = tokenizer(["The zarp is blue."], return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, sft_model(ids).logits, atol=1e-4)
    assert not isinstance(model, PeftModel)  # merged: every method adds its own fresh adapter


def test_preference_data_shapes():
    pairs, held_out, unpaired = (data.course_dataset(name) for name in ("preference", "preference_eval", "unpaired"))
    facts = data.course_dataset("eval").filter(lambda row: row["kind"] == "fact")
    assert held_out["prompt"] == [[{"role": "user", "content": q}] for q in facts["question"]]
    train_questions = {row["prompt"][0]["content"] for row in pairs}
    assert not train_questions & set(facts["question"])  # held-out questions are never trained on
    assert sum(unpaired["label"]) == len(unpaired) // 2 == len(pairs)  # every pair split in two
    prompts = [row["prompt"][0]["content"] for row in unpaired]
    assert sum(a == b for a, b in zip(prompts, prompts[1:], strict=False)) < len(prompts) // 20  # KTO's KL pairs


def test_results_reuse_fresh_records_and_rerun_stale_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_OUTPUTS", str(tmp_path))
    ran = []

    def fake_run(method, profile):
        ran.append(method)
        return {"recipe": preference.recipe(method, profile), "method": method}, None

    monkeypatch.setattr(preference, "run", fake_run)
    first = preference.results(TOY, ["dpo", "kto"])
    assert ran == ["dpo", "kto"] and set(first) == {"dpo", "kto"}
    assert preference.results(TOY, ["dpo", "kto"]) == first and len(ran) == 2  # reused
    path = preference.record_path(TOY, "kto")
    stale = json.loads(path.read_text())
    stale["recipe"]["steps"] += 1
    path.write_text(json.dumps(stale))
    preference.results(TOY, ["dpo", "kto"])
    assert ran == ["dpo", "kto", "kto"]
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["preference_dpo.json", "preference_kto.json"]


def test_comparison_table_and_chart():
    facts = evaluation.paired_comparison([False] * 6 + [True] * 4, [True] * 5 + [False] + [True] * 4)
    pairs = evaluation.paired_comparison([True] * 8 + [False] * 2, [True] * 10)
    record = {"method": "DPO", "needs_pairs": True, "needs_reference": True, "peak_memory_mib": 100.0,
              "train_seconds": 9.0, "preference_accuracy_per_token_before": 0.5,
              "preference_accuracy_per_token_after": 0.75, "preference_comparison": asdict(pairs),
              "fact_comparison": asdict(facts), "reply_tokens_before": 7.0, "reply_tokens_after": 9.5}
    table = comparison.comparison_table({"dpo": record, "kto": record | {"method": "KTO", "needs_pairs": False}})
    assert list(table.index) == ["DPO", "KTO"] and table.loc["KTO", "needs pairs?"] == "no"
    assert table.loc["DPO", "fact accuracy"].startswith("40.0% → 90.0% (+50.0 points, 95% CI")
    assert "won 5, lost 0, tied 5" in table.loc["DPO", "fact accuracy"]
    assert table.loc["DPO", "per token"] == "50.0% → 75.0%"
    assert table.loc["DPO", "reply length (tokens)"] == "7.0 → 9.5"
    assert len(comparison.comparison_chart({"dpo": record}).axes) == 4


def test_pair_scores_equal_scoring_each_whole_conversation(trainers):
    """The shared-prompt, cached scoring gives each answer's log-probability as one unpadded pass over the whole
    conversation does (``losses.completion_logps``), through a LoRA adapter and across uneven batches."""
    model, tokenizer = trainers["dpo"].model, trainers["dpo"].processing_class
    pairs = data.course_dataset("preference_eval").select(range(20))
    scores = preference.pair_scores(model, tokenizer, pairs, batch_size=8)
    for i, row in enumerate(pairs):
        prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        start = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        for key in ("chosen", "rejected"):
            text = tokenizer.apply_chat_template(row["prompt"] + row[key], tokenize=False)
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            answer = torch.zeros_like(ids)
            answer[:, start:] = 1
            with torch.no_grad():
                whole = losses.completion_logps(model, ids, torch.ones_like(ids), answer).item()
            assert scores[key][i].item() == pytest.approx(whole, abs=1e-4)
            assert scores[f"{key}_avg"][i].item() == pytest.approx(whole / (ids.shape[1] - start), abs=1e-5)


def test_a_template_whose_prompt_is_not_the_conversations_start_is_refused(trainers):
    """A chat template that writes the assistant's turn differently from its generation prompt would put template
    tokens into the scored answer: one clear error, quoted by TROUBLESHOOTING.md."""
    tokenizer = copy.deepcopy(trainers["dpo"].processing_class)
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant thinks: {% endif %}")
    pairs = data.course_dataset("preference_eval").select(range(2))
    with pytest.raises(ValueError, match="not a token prefix of the conversation with its chosen answer") as error:
        preference.pair_scores(trainers["dpo"].model, tokenizer, pairs)
    page = (Path(__file__).resolve().parents[1] / "TROUBLESHOOTING.md").read_text(encoding="utf-8")
    assert f"## ValueError: {str(error.value).split(': ')[0]}: …" in page


def test_measure_reports_both_preference_accuracies_and_paired_changes():
    model, tokenizer = models.load(TOY)
    before = preference.measure(model, tokenizer, TOY)
    again = preference.measure(model, tokenizer, TOY, baseline=before)
    assert set(before) >= {"preference_accuracy", "preference_accuracy_per_token", "margin", "fact_accuracy"}
    lengths = [len(tokenizer(reply, add_special_tokens=False).input_ids) for reply in before["replies"]]
    assert before["reply_tokens"] == sum(lengths) / len(lengths) > 0
    assert "fact_comparison" not in before
    same = again["fact_comparison"]  # the same model against itself: nothing won or lost
    assert (same.won, same.lost, same.low, same.high, same.p_value) == (0, 0, 0.0, 0.0, 1.0)
    assert again["preference_comparison"].tied == len(before["pair_correct"])
    facts = preference.measure_facts(model, tokenizer, TOY)  # Lab 08's base model: the fact half alone
    assert facts == {key: before[key] for key in ("fact_accuracy", "reply_tokens", "correct", "replies")}


def test_the_base_models_facts_are_lab_01s_replies(tmp_path, monkeypatch):
    """Lab 08 measures the base model's facts from the replies Lab 01 kept: the same figures as generating them."""
    monkeypatch.setenv("FTLAB_OUTPUTS", str(tmp_path))
    model, tokenizer = models.load(TOY)
    kept = preference.measure_facts(model, tokenizer, TOY, base_model=True)
    assert (tmp_path / "toy" / "base_chat_replies.json").is_file()
    assert preference.measure_facts(None, tokenizer, TOY, base_model=True) == kept  # read back, not generated
    assert preference.measure_facts(model, tokenizer, TOY) == kept


def test_lab_checkers():
    margins = [2.0, 3.0, -0.5]
    assert LAB06.check_dpo_beta("lower", margins, 0.1, 0.5)
    assert "it gets lower" in LAB06.check_dpo_beta("higher", margins, 0.1, 0.5).message
    assert LAB06.check_dpo_beta("higher", [-2.0, -1.0], 0.1, 0.5)
    assert "one word" in LAB06.check_dpo_beta("up", margins, 0.1, 0.5).message

    chosen, rejected = [-0.2, -0.8], [-0.9, -0.6]
    right = losses.simpo_loss(torch.tensor(chosen), torch.tensor(rejected), 2.0, 1.0).item()
    assert LAB07.check_simpo_gamma(right, chosen, rejected, 2.0, 1.0)
    no_gamma = losses.simpo_loss(torch.tensor(chosen), torch.tensor(rejected), 2.0, 0.0).item()
    assert "left γ out" in LAB07.check_simpo_gamma(no_gamma, chosen, rejected, 2.0, 1.0).message
    assert "give a number" in LAB07.check_simpo_gamma(None, chosen, rejected, 2.0, 1.0).message

    assert LAB08.check_orpo_lambda(0.5 + 0.2, nll=0.5, log_odds_ratio=-0.2, lam=1.0)
    assert "the sign" in LAB08.check_orpo_lambda(0.3, nll=0.5, log_odds_ratio=-0.2, lam=1.0).message
    assert "SFT part" in LAB08.check_orpo_lambda(0.2, nll=0.5, log_odds_ratio=-0.2, lam=1.0).message

    assert LAB09.check_kto_weights(3.0, n_desirable=100, n_undesirable=300)
    assert LAB09.check_kto_weights(4.0, n_desirable=100, n_undesirable=300)
    assert "too small" in LAB09.check_kto_weights(1.0, n_desirable=100, n_undesirable=300).message
    assert "too large" in LAB09.check_kto_weights(5.0, n_desirable=100, n_undesirable=300).message


def test_troubleshooting_headings_quote_real_messages():
    """The TROUBLESHOOTING sections of Labs 06-09 are headed by these messages of the pinned TRL."""
    page = (Path(__file__).resolve().parents[1] / "TROUBLESHOOTING.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (?:ImportError|ValueError): (.+)$", page, re.M)

    def quoted(message: str) -> bool:
        return any(message.startswith(h) for h in headings)

    with pytest.raises(ImportError) as error:
        from trl import ORPOTrainer  # noqa: F401
    assert quoted(str(error.value).split(" (")[0])
    model, tokenizer = preference.start_model(TOY)
    with pytest.raises(ValueError) as error:
        KTOTrainer(model=model, args=preference.config("kto", TOY, train_sampling_strategy="random"),
                   train_dataset=preference.train_data("kto"), processing_class=tokenizer)
    assert quoted(str(error.value))
    sft_model = PeftModel.from_pretrained(models.load(TOY)[0], sft.ensure_sft_adapter(TOY))
    with pytest.raises(ValueError) as error:
        DPOTrainer(model=sft_model, args=preference.config("dpo", TOY), train_dataset=preference.train_data("dpo"),
                   processing_class=tokenizer, peft_config=sft.lora_config(TOY))
    assert quoted(str(error.value))


def test_the_start_is_measured_once_per_sft_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_OUTPUTS", str(tmp_path))
    calls = []
    monkeypatch.setattr(preference, "measure", lambda model, tokenizer, profile: calls.append(1) or {"margin": 1.5})
    adapter = {"digest": "a1"}
    monkeypatch.setattr(preference, "_adapter_digest", lambda profile: adapter["digest"])
    assert preference.start_measurement(None, None, TOY) == {"margin": 1.5}
    assert preference.start_measurement(None, None, TOY) == {"margin": 1.5} and len(calls) == 1  # stored, reused
    adapter["digest"] = "b2"  # Lab 03 re-run: another adapter, measured afresh
    preference.start_measurement(None, None, TOY)
    assert len(calls) == 2 and (tmp_path / "toy" / "preference_start.json").is_file()
