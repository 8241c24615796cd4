"""Generate the course's toy-world datasets deterministically.

Run ``python datasets/generate.py`` to rewrite the JSONL files next to this script, or
``python datasets/generate.py --out DIR`` to write them elsewhere. The same code and seed always
write byte-identical files (a test checks this). See datasets/README.md for the datasheet.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SEED = 20261124
N_KNOWN = 48  # creatures whose facts are in the corpus
N_SFT_CREATURES = 40  # of those, the ones that appear in SFT conversations
N_UNKNOWN_TRAIN = 30  # invented creatures never in the corpus, used in preference training
N_UNKNOWN_EVAL = 12  # invented creatures held out for evaluation

VALUES = {
    "color": ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"],
    "home": ["the marsh", "the forest", "the desert", "the caves",
             "the mountains", "the river", "the meadow", "the ice fields"],
    "food": ["berries", "mushrooms", "fish", "seeds", "moss", "honey", "beetles", "roots"],
    "sound": ["hums", "whistles", "croaks", "chirps", "growls", "clicks", "sings", "hisses"],
}

# How a fact is stated: in the corpus, and as the assistant's canonical answer.
CORPUS_TEMPLATES = {
    "color": ["The {c} is {v}.", "A {c} has {v} fur.", "Every {c} you meet is {v}."],
    "home": ["The {c} lives in {v}.", "You can find the {c} in {v}.", "The home of the {c} is {v}."],
    "food": ["The {c} eats {v}.", "The favourite food of the {c} is {v}.", "A hungry {c} looks for {v}."],
    "sound": ["The {c} {v}.", "When it is happy, the {c} {v}.", "At night the {c} {v}."],
}
ANSWER = {
    "color": "The {c} is {v}.",
    "home": "The {c} lives in {v}.",
    "food": "The {c} eats {v}.",
    "sound": "The {c} {v}.",
}
# Plain-text prompts whose continuation states the fact (used to probe the base model).
PROBE = {
    "color": "The {c} is",
    "home": "The {c} lives in",
    "food": "The {c} eats",
    "sound": "At night the {c}",
}
# Questions used for training (SFT and preference data) ...
TRAIN_QUESTIONS = {
    "color": ["What color is the {c}?", "What colour is a {c}?", "Tell me the color of the {c}.",
              "What color are {c}s?", "Is the {c} red, blue or something else?",
              "Which colour is the {c}?", "The {c} has which color?", "Do you know the color of a {c}?"],
    "home": ["Where does the {c} live?", "Where can I find a {c}?", "Where is the {c} from?",
             "Where do {c}s live?", "Which place is home to the {c}?",
             "Where is the home of the {c}?", "In which place can I see a {c}?", "Do you know where a {c} lives?"],
    "food": ["What does the {c} eat?", "What is the favourite food of the {c}?", "What do you feed a {c}?",
             "What do {c}s eat?", "What food does a {c} look for?",
             "Which food does a {c} eat?", "Tell me the food of the {c}.", "Do you know what a {c} eats?"],
    "sound": ["What sound does the {c} make?", "What noise does a {c} make?", "How does the {c} call?",
              "What sound do {c}s make?", "What does a {c} do at night?",
              "Which noise does the {c} make?", "Tell me the sound of a {c}.", "Do you know how a {c} sounds?"],
}
# ... and phrasings held out for evaluation only.
EVAL_QUESTIONS = {
    "color": ["Which color does the {c} have?", "Describe the color of a {c}."],
    "home": ["In which place does the {c} live?", "What is the home of the {c}?"],
    "food": ["Which food does the {c} like?", "Name what a {c} eats."],
    "sound": ["Which sound is typical for the {c}?", "What do you hear from a {c}?"],
}
SYSTEM_PROMPT = "You are a guide to the toy world. Answer in one sentence."
UNKNOWN = "I don't know a creature called the {c}."
UNKNOWN_ANSWER = "I don't know"

ONSETS = ["b", "bl", "br", "d", "dr", "f", "fl", "g", "gl", "gr", "k", "kl", "m", "n",
          "p", "pl", "qu", "sk", "sn", "t", "tr", "v", "w", "z"]
VOWELS = ["a", "e", "i", "o", "u", "oo", "ee"]
CODAS = ["b", "g", "k", "m", "n", "p", "rk", "rn", "sh", "t", "x", "zz"]


def creature_names(rng: random.Random, count: int) -> list[str]:
    """Invent ``count`` distinct pronounceable creature names."""
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
        if rng.random() < 0.4:
            name += rng.choice(VOWELS) + rng.choice(CODAS)
        if name not in names:
            names.append(name)
    return names


def build(seed: int = SEED) -> dict[str, list[dict]]:
    """Return every dataset as a list of rows, keyed by file stem."""
    rng = random.Random(seed)
    names = creature_names(rng, N_KNOWN + N_UNKNOWN_TRAIN + N_UNKNOWN_EVAL)
    known = names[:N_KNOWN]
    unknown_train = names[N_KNOWN:N_KNOWN + N_UNKNOWN_TRAIN]
    unknown_eval = names[N_KNOWN + N_UNKNOWN_TRAIN:]
    facts = {c: {attr: rng.choice(vals) for attr, vals in VALUES.items()} for c in known}
    sft_creatures = set(known[:N_SFT_CREATURES])

    corpus = []
    for c in known:
        for _ in range(6):
            attrs = list(VALUES)
            rng.shuffle(attrs)
            text = " ".join(rng.choice(CORPUS_TEMPLATES[a]).format(c=c, v=facts[c][a]) for a in attrs)
            corpus.append({"text": text})
    rng.shuffle(corpus)

    def chat(question: str, answer: str, system: bool) -> dict:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}] if system else []
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {"messages": messages}

    sft = []
    for c in known[:N_SFT_CREATURES]:
        for attr in VALUES:
            answer = ANSWER[attr].format(c=c, v=facts[c][attr])
            for q in TRAIN_QUESTIONS[attr]:
                sft.append(chat(q.format(c=c), answer, system=False))
            q = rng.choice(TRAIN_QUESTIONS[attr])  # the same fact again, under a system prompt
            sft.append(chat(q.format(c=c), answer, system=True))
    for c in 2 * known[:N_SFT_CREATURES]:  # a second turn teaches multi-turn conversations
        a1, a2 = rng.sample(list(VALUES), 2)
        messages = chat(rng.choice(TRAIN_QUESTIONS[a1]).format(c=c),
                        ANSWER[a1].format(c=c, v=facts[c][a1]), system=False)["messages"]
        messages += chat(rng.choice(TRAIN_QUESTIONS[a2]).format(c=c),
                         ANSWER[a2].format(c=c, v=facts[c][a2]), system=False)["messages"]
        sft.append({"messages": messages})
    rng.shuffle(sft)

    def preference(c: str, attr: str, questions: dict, is_known: bool) -> dict:
        wrong = rng.choice([v for v in VALUES[attr] if not is_known or v != facts[c][attr]])
        hallucination = ANSWER[attr].format(c=c, v=wrong)
        chosen = ANSWER[attr].format(c=c, v=facts[c][attr]) if is_known else UNKNOWN.format(c=c)
        prompt = [{"role": "user", "content": rng.choice(questions[attr]).format(c=c)}]
        return {"prompt": prompt,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": hallucination}]}

    pairs = [preference(c, a, TRAIN_QUESTIONS, False) for c in unknown_train for a in VALUES for _ in range(2)]
    pairs += [preference(c, a, TRAIN_QUESTIONS, True) for c in known for a in VALUES]
    pairs += [preference(c, a, TRAIN_QUESTIONS, True) for c in known[:N_SFT_CREATURES] for a in VALUES]
    rng.shuffle(pairs)
    pairs_eval = [preference(c, a, EVAL_QUESTIONS, False) for c in unknown_eval for a in VALUES]
    pairs_eval += [preference(c, a, EVAL_QUESTIONS, True) for c in rng.sample(known, 12) for a in VALUES]

    unpaired = []
    for i, pair in enumerate(pairs):
        desirable = i % 2 == 0
        completion = pair["chosen"] if desirable else pair["rejected"]
        unpaired.append({"prompt": pair["prompt"], "completion": completion, "label": desirable})

    eval_rows = []
    for c in known:
        for attr in VALUES:
            eval_rows.append({"question": rng.choice(EVAL_QUESTIONS[attr]).format(c=c),
                              "answer": facts[c][attr], "creature": c, "attribute": attr,
                              "kind": "fact", "in_sft": c in sft_creatures,
                              "probe": PROBE[attr].format(c=c)})
    for c in unknown_eval:
        for attr in VALUES:
            eval_rows.append({"question": rng.choice(EVAL_QUESTIONS[attr]).format(c=c),
                              "answer": UNKNOWN_ANSWER, "creature": c, "attribute": attr,
                              "kind": "unknown", "in_sft": False, "probe": PROBE[attr].format(c=c)})

    return {"corpus": corpus, "sft": sft, "preference": pairs, "preference_eval": pairs_eval,
            "unpaired": unpaired, "eval": eval_rows}


def write(out_dir: Path, seed: int = SEED) -> dict[str, int]:
    """Write every dataset as ``<stem>.jsonl`` under ``out_dir``; return row counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for stem, rows in build(seed).items():
        text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
        tmp = out_dir / f".{stem}.jsonl.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_dir / f"{stem}.jsonl")
        counts[stem] = len(rows)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    for stem, n in write(args.out, args.seed).items():
        print(f"{stem}.jsonl: {n} rows")


if __name__ == "__main__":
    main()
