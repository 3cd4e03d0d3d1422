"""What a task is: the 16 JMTEB v1 datasets and our local stand-ins, each with its category, splits and data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from .data.records import Fields

CATEGORIES = ("Retrieval", "STS", "Classification", "Reranking", "Clustering", "PairClassification")
"""JMTEB's category order (``make_leaderboard.py``)."""

KIND = {
    "Retrieval": "retrieval",
    "STS": "sts",
    "Classification": "classification",
    "Reranking": "reranking",
    "Clustering": "clustering",
    "PairClassification": "pair",
}
MAIN_METRIC = {
    "Retrieval": "ndcg@10",
    "STS": "spearman",
    "Classification": "macro_f1",
    "Reranking": "ndcg@10",
    "Clustering": "v_measure_score",
    "PairClassification": "binary_f1",
}
K_VALUES = {"Retrieval": (1, 3, 5, 10), "Reranking": (10, 20, 40)}
"""JMTEB v1 evaluator defaults: retrieval accuracy/nDCG/MRR at 1, 3, 5, 10; reranking nDCG at 10, 20, 40."""

Status = Literal["exact", "approximate", "stand-in", "hub"]


@dataclass(frozen=True)
class Ref:
    """One file of a split: a path under the data root, or a hub config/split of ``sbintuitions/JMTEB``."""

    where: Literal["local", "hub"]
    path: str
    split: str | None = None

    @property
    def tag(self) -> str:
        """A short stable name for cache keys."""
        return self.path if self.where == "local" else f"hub:{self.path}@{self.split}"


def local(path: str) -> Ref:
    """A file under the data root (``../shared/data`` or ``$TSUMUGI_DATA``)."""
    return Ref("local", path)


def hub(config: str, split: str) -> Ref:
    """A config/split of ``sbintuitions/JMTEB`` on the hub."""
    return Ref("hub", config, split)


@dataclass(frozen=True)
class TaskSpec:
    """A runnable task: ``splits`` maps ``train``/``val``/``test`` to roles (``data``, ``queries``, ``corpus``)."""

    name: str
    category: str
    splits: Mapping[str, Mapping[str, Ref]]
    status: Status = "exact"
    stand_in_for: str | None = None
    note: str = ""
    fields: Fields = Fields()
    label_map: Mapping[str, int] | None = None
    subsample: Mapping[str, int] = field(default_factory=dict)
    """Seeded row caps: ``max_rows`` (val and test pairs/texts), ``max_train``, ``max_queries``, ``max_corpus``;
    ``max_val_rows`` / ``max_test_rows`` (and ``max_val_queries``, ...) cap one split only and win over the
    shared key."""
    seed: int = 0
    on_val: bool = False
    """Scored on its validation split alone (:meth:`scored_on_val`), for model selection."""
    cache_group: str | None = None
    """Tasks that read the same texts share cached embeddings (JSQuAD retrieval and reranking)."""
    score_kwargs: Mapping[str, int] = field(default_factory=dict)
    """Extra scorer arguments (JMTEB's Mr.TyDi config sets ``doc_chunk_size: 10000``)."""

    @property
    def kind(self) -> str:
        """``sts``, ``pair``, ``classification``, ``clustering``, ``retrieval`` or ``reranking``."""
        return KIND[self.category]

    @property
    def metric(self) -> str:
        """JMTEB's main metric for the category."""
        return MAIN_METRIC[self.category]

    @property
    def k_values(self) -> tuple[int, ...]:
        """Cut-offs for retrieval / reranking metrics."""
        return K_VALUES.get(self.category, ())

    @property
    def label(self) -> str:
        """The name shown in tables, with what makes it not the JMTEB dataset."""
        notes = []
        if self.stand_in_for:
            notes.append(f"stand-in for {self.stand_in_for}")
        if self.status == "approximate":
            notes.append("approx. split")
        if self.subsample:
            notes.append("subsample")
        if self.on_val:
            notes.append("val split")
        return f"{self.name} ({', '.join(notes)})" if notes else self.name

    @property
    def val_is_test(self) -> bool:
        """JMTEB: "for a dataset without a validation set, the validation set is the test set"."""
        return self.splits["val"] == self.splits["test"]

    def scored_on_val(self) -> TaskSpec:
        """The task with its validation split (and val caps) in the test role: JMTEB's protocol run on val
        alone, so that choosing a model (a merge, a checkpoint) never reads the test set; encoded once."""
        caps = {k: v for k, v in self.subsample.items() if not k.startswith("max_test_")}
        caps |= {"max_test_" + k[len("max_val_") :]: v for k, v in caps.items() if k.startswith("max_val_")}
        return replace(self, splits={**self.splits, "test": self.splits["val"]}, subsample=caps, on_val=True)

    def with_subsample(self, **limits: int) -> TaskSpec:
        """The same task reading at most the given numbers of rows."""
        return replace(self, subsample={**self.subsample, **limits})


@dataclass(frozen=True)
class JmtebDataset:
    """One of the 16 JMTEB v1 datasets: where the hub has it and whether a local copy exists."""

    name: str
    category: str
    hub_splits: Mapping[str, Mapping[str, Ref]]
    local_task: TaskSpec | None = None
    score_kwargs: Mapping[str, int] = field(default_factory=dict)


def _hub_pairs(config: str, val: str = "validation") -> dict:
    return {"val": {"data": hub(config, val)}, "test": {"data": hub(config, "test")}}


def _hub_classification(config: str) -> dict:
    return {
        s: {"data": hub(config, hs)}
        for s, hs in (("train", "train"), ("val", "validation"), ("test", "test"))
    }


def _hub_retrieval(name: str) -> dict:
    corpus = hub(f"{name}-corpus", "corpus")
    return {
        s: {"queries": hub(f"{name}-query", hs), "corpus": corpus}
        for s, hs in (("val", "validation"), ("test", "test"))
    }


# --- local data (../shared/data; see each folder's SOURCE.md) ---------------------------------------------------
JSTS_LOCAL = TaskSpec(
    "jsts",
    "STS",
    {
        "val": {"data": local("jsts/original/train-v1.3.json")},
        "test": {"data": local("jsts/original/valid-v1.3.json")},
    },
    note="JMTEB train = JGLUE train (selection only), JMTEB test = JGLUE valid (1,457 pairs)",
)
JSICK_LOCAL = TaskSpec(
    "jsick",
    "STS",
    {
        "val": {"data": local("jsick/approx_jmteb_split/validation.jsonl")},
        "test": {"data": local("jsick/approx_jmteb_split/test.jsonl")},
    },
    status="approximate",
    note="seeded 60/20/20 re-split with JMTEB's sizes; membership differs from JMTEB's",
)
AMAZON_CF_LOCAL = TaskSpec(
    "amazon_counterfactual_classification",
    "Classification",
    {
        s: {"data": local(f"amazon_counterfactual_ja/jmteb_format/{f}.jsonl")}
        for s, f in (("train", "train"), ("val", "validation"), ("test", "test"))
    },
    note="CC BY-NC 4.0 (non-commercial)",
)
_JSQUAD = "jsquad/jmteb_format"
JSQUAD_RETRIEVAL = TaskSpec(
    "jsquad_retrieval",
    "Retrieval",
    {
        s: {
            "queries": local(f"{_JSQUAD}/{d}/retrieval_queries.jsonl"),
            "corpus": local(f"{_JSQUAD}/{d}/corpus.jsonl"),
        }
        for s, d in (("val", "valid"), ("test", "test"))
    },
    status="stand-in",
    stand_in_for="jaqket",
    note="JSQuAD questions -> their Wikipedia paragraph among ~1.1k (JAQKET: 114k docs); scores run much higher",
    cache_group="jsquad",
)
JAQUAD_RETRIEVAL = TaskSpec(
    "jaquad_retrieval",
    "Retrieval",
    {
        s: {
            "queries": local("jaquad/jmteb_format/dev/retrieval_queries.jsonl"),
            "corpus": local("jaquad/jmteb_format/dev/corpus.jsonl"),
        }
        for s in ("val", "test")
    },
    status="stand-in",
    stand_in_for="mrtydi",
    note="JaQuAD dev questions -> 1,431 Wikipedia paragraphs; no validation split, so val = test (as JMTEB does)",
)
JSQUAD_RERANKING = TaskSpec(
    "jsquad_reranking",
    "Reranking",
    {
        s: {
            "queries": local(f"{_JSQUAD}/{d}/reranking_queries.jsonl"),
            "corpus": local(f"{_JSQUAD}/{d}/corpus.jsonl"),
        }
        for s, d in (("val", "valid"), ("test", "test"))
    },
    status="stand-in",
    stand_in_for="esci",
    note="JSQuAD question vs all paragraphs of its article (~59), gold paragraph = 1",
    cache_group="jsquad",
)
JNLI_PAIR = TaskSpec(
    "jnli_pair_classification",
    "PairClassification",
    {
        "val": {"data": local("jnli/original/valid-v1.3.json")},
        "test": {"data": local("jnli/original/test-v1.3.json")},
    },
    status="stand-in",
    stand_in_for="paws_x_ja",
    label_map={"entailment": 1, "contradiction": 0, "neutral": 0},
    note="JGLUE JNLI valid -> test, entailment = 1, contradiction / neutral = 0",
)
SIB200_CLASSIFICATION = TaskSpec(
    "sib200_classification",
    "Classification",
    {
        s: {"data": local(f"sib200_jpn/jmteb_format/{f}.jsonl")}
        for s, f in (("train", "train"), ("val", "validation"), ("test", "test"))
    },
    status="stand-in",
    stand_in_for="massive_scenario_classification",
    note="SIB-200 jpn_Jpan topic classification, 7 labels (701 / 99 / 204); JMTEB v2 task SIB200Classification",
    cache_group="sib200",
)
SIB200_CLUSTERING = TaskSpec(
    "sib200_clustering",
    "Clustering",
    {
        "val": {"data": local("sib200_jpn/jmteb_format/validation.jsonl")},
        "test": {"data": local("sib200_jpn/jmteb_format/test.jsonl")},
    },
    status="stand-in",
    stand_in_for="livedoor_news",
    note="SIB-200 jpn_Jpan sentences clustered by topic (7 labels)",
    cache_group="sib200",
)

JMTEB_V1: tuple[JmtebDataset, ...] = (
    JmtebDataset("jagovfaqs_22k", "Retrieval", _hub_retrieval("jagovfaqs_22k")),
    JmtebDataset("jaqket", "Retrieval", _hub_retrieval("jaqket")),
    JmtebDataset("mrtydi", "Retrieval", _hub_retrieval("mrtydi"), score_kwargs={"doc_chunk_size": 10000}),
    JmtebDataset("nlp_journal_abs_intro", "Retrieval", _hub_retrieval("nlp_journal_abs_intro")),
    JmtebDataset("nlp_journal_title_abs", "Retrieval", _hub_retrieval("nlp_journal_title_abs")),
    JmtebDataset("nlp_journal_title_intro", "Retrieval", _hub_retrieval("nlp_journal_title_intro")),
    JmtebDataset("jsts", "STS", _hub_pairs("jsts", val="train"), JSTS_LOCAL),
    JmtebDataset("jsick", "STS", _hub_pairs("jsick"), JSICK_LOCAL),
    JmtebDataset(
        "amazon_counterfactual_classification",
        "Classification",
        _hub_classification("amazon_counterfactual_classification"),
        AMAZON_CF_LOCAL,
    ),
    JmtebDataset(
        "amazon_review_classification", "Classification", _hub_classification("amazon_review_classification")
    ),
    JmtebDataset(
        "massive_intent_classification",
        "Classification",
        _hub_classification("massive_intent_classification"),
    ),
    JmtebDataset(
        "massive_scenario_classification",
        "Classification",
        _hub_classification("massive_scenario_classification"),
    ),
    JmtebDataset("esci", "Reranking", _hub_retrieval("esci")),
    JmtebDataset("livedoor_news", "Clustering", _hub_pairs("livedoor_news")),
    JmtebDataset("mewsc16", "Clustering", _hub_pairs("mewsc16_ja")),
    JmtebDataset("paws_x_ja", "PairClassification", _hub_pairs("paws_x_ja")),
)
"""The 16 datasets of JMTEB v1.3.3 (``src/jmteb/configs/jmteb.jsonnet``), in leaderboard order by category."""

STAND_INS: tuple[TaskSpec, ...] = (
    JSQUAD_RETRIEVAL,
    JAQUAD_RETRIEVAL,
    JSQUAD_RERANKING,
    JNLI_PAIR,
    SIB200_CLASSIFICATION,
    SIB200_CLUSTERING,
)


def jmteb_dataset(name: str) -> JmtebDataset:
    """The JMTEB v1 dataset called ``name``."""
    for ds in JMTEB_V1:
        if ds.name == name:
            return ds
    raise KeyError(f"unknown JMTEB v1 dataset {name!r}; known: {[d.name for d in JMTEB_V1]}")


def hub_task(ds: JmtebDataset) -> TaskSpec:
    """The task reading ``ds`` from the hub (its exact JMTEB splits)."""
    return TaskSpec(ds.name, ds.category, ds.hub_splits, status="hub", score_kwargs=ds.score_kwargs)
