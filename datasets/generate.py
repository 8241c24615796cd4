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
N_UNKNOWN_TRAIN = 30  # invented creatures never in the corpus (drawn, no longer written: see _v1_preference_draws)
N_UNKNOWN_EVAL = 12  # invented creatures asked about in evaluation ("I don't know")

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
# Questions used for SFT training ...
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
# ... phrasings used only in preference data (Labs 06-09): the SFT model has memorised its own phrasings, and
# on new ones it often states a fact about another attribute: the mistake the preference pairs target ...
PREFERENCE_QUESTIONS = {
    "color": ["What is the color of the {c}?", "Say which color a {c} has.", "Can you tell me the colour of a {c}?",
              "The color of the {c} is what?", "What colour does a {c} have?", "I wonder what color the {c} is.",
              "Which colour are {c}s?", "What color is a {c} usually?"],
    "home": ["Where is a {c} found?", "Say where the {c} lives.", "Can you tell me where a {c} lives?",
             "The {c} lives where?", "Where would I meet a {c}?", "I wonder where the {c} lives.",
             "Which place do {c}s call home?", "Where does a {c} usually live?"],
    "food": ["What is the food of the {c}?", "Say what the {c} eats.", "Can you tell me what a {c} eats?",
             "The {c} eats what?", "What does the {c} feed on?", "I wonder what the {c} eats.",
             "Which food do {c}s look for?", "What does a {c} usually eat?"],
    "sound": ["What is the sound of the {c}?", "Say what sound a {c} makes.", "Can you tell me the noise of a {c}?",
              "The {c} makes which sound?", "What sound is the {c} known for?", "I wonder what sound the {c} makes.",
              "Which noise do {c}s make?", "How does a {c} usually sound?"],
}
# ... and phrasings held out for evaluation only.
EVAL_QUESTIONS = {
    "color": ["Which color does the {c} have?", "Describe the color of a {c}."],
    "home": ["In which place does the {c} live?", "What is the home of the {c}?"],
    "food": ["Which food does the {c} like?", "Name what a {c} eats."],
    "sound": ["Which sound is typical for the {c}?", "What do you hear from a {c}?"],
}
SYSTEM_PROMPT = "You are a guide to the toy world. Answer in one sentence."
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

    _v1_preference_draws(rng, known, unknown_train, unknown_eval, facts)

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

    # Preference data (Labs 06-09), from a generator of their own. Every known creature and attribute gets two
    # pairs in new phrasings: the right fact (chosen) against a true fact about another attribute (rejected: it
    # answers a different question, the SFT model's typical mistake), and against a wrong value.
    pref_rng = random.Random(seed + 1)

    def pair(c: str, attr: str, question: str, mistake: str) -> dict:
        if mistake == "other attribute":
            other = pref_rng.choice([a for a in VALUES if a != attr])
            rejected = ANSWER[other].format(c=c, v=facts[c][other])
        else:
            rejected = ANSWER[attr].format(c=c, v=pref_rng.choice([v for v in VALUES[attr] if v != facts[c][attr]]))
        return {"prompt": [{"role": "user", "content": question.format(c=c)}],
                "chosen": [{"role": "assistant", "content": ANSWER[attr].format(c=c, v=facts[c][attr])}],
                "rejected": [{"role": "assistant", "content": rejected}]}

    pairs = []
    for c in known:
        for attr in VALUES:
            for question, mistake in zip(pref_rng.sample(PREFERENCE_QUESTIONS[attr], 2),
                                         ["other attribute", "wrong value"], strict=True):
                pairs.append(pair(c, attr, question, mistake))
    pref_rng.shuffle(pairs)
    # Held-out pairs: the evaluation's own fact questions, each with one of the two mistakes.
    pairs_eval = [pair(row["creature"], row["attribute"], row["question"],
                       pref_rng.choice(["other attribute", "wrong value"]))
                  for row in eval_rows if row["kind"] == "fact"]
    # KTO's unpaired data: every pair split into a desirable and an undesirable example, as the KTO paper does to
    # compare with DPO on the same data. Shuffled, so that neighbours (KTO's mismatched KL pairs) are other prompts.
    unpaired = [{"prompt": p["prompt"], "completion": p[key], "label": key == "chosen"}
                for p in pairs for key in ("chosen", "rejected")]
    pref_rng.shuffle(unpaired)

    return {"corpus": corpus, "sft": sft, "preference": pairs, "preference_eval": pairs_eval,
            "unpaired": unpaired, "eval": eval_rows}


def _v1_preference_draws(rng: random.Random, known: list[str], unknown_train: list[str], unknown_eval: list[str],
                         facts: dict) -> None:
    """Repeat the draws the first version of this file made for its preference pairs, writing nothing.

    Those pairs (phrased like the SFT data, and "I don't know a creature called the X." for invented creatures)
    gave preference training nothing to learn on the toy model: the SFT model had memorised those phrasings, and
    gives the never-seen abstention a log-probability of about -230 (Lab 06 shows why no preference method bridges
    that). Repeating the draws keeps ``eval.jsonl``, drawn after them, byte-identical, so earlier labs' figures hold.
    """
    def draws(c: str, attr: str, questions: dict, is_known: bool) -> None:
        rng.choice([v for v in VALUES[attr] if not is_known or v != facts[c][attr]])
        rng.choice(questions[attr])

    for c in unknown_train:
        for attr in VALUES:
            draws(c, attr, TRAIN_QUESTIONS, False)
            draws(c, attr, TRAIN_QUESTIONS, False)
    for c in known + known[:N_SFT_CREATURES]:
        for attr in VALUES:
            draws(c, attr, TRAIN_QUESTIONS, True)
    rng.shuffle([None] * (2 * len(unknown_train) + len(known) + N_SFT_CREATURES) * len(VALUES))
    for c in unknown_eval:
        for attr in VALUES:
            draws(c, attr, EVAL_QUESTIONS, False)
    for c in rng.sample(known, 12):
        for attr in VALUES:
            draws(c, attr, EVAL_QUESTIONS, True)


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
