"""Training data: records and readers, prompts, mixture sampling with a resumable position, batches."""

from train.data.batch import TextBatch
from train.data.loader import DatasetSpec, TrainLoader, load_datasets
from train.data.prompts import QWEN3_TEMPLATE, PromptFormatter, template_from_prompt
from train.data.readers import RecordSet, read_dataset, read_jsonl, read_source
from train.data.records import FORMATS, RecordError, TrainRecord, detect_format, parse_record
from train.data.sampler import SamplingConfig, plan_epoch

__all__ = [
    "FORMATS",
    "QWEN3_TEMPLATE",
    "DatasetSpec",
    "PromptFormatter",
    "RecordError",
    "RecordSet",
    "SamplingConfig",
    "TextBatch",
    "TrainLoader",
    "TrainRecord",
    "detect_format",
    "load_datasets",
    "parse_record",
    "plan_epoch",
    "read_dataset",
    "read_jsonl",
    "read_source",
    "template_from_prompt",
]
