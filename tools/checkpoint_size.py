"""What a checkpoint weighs: the file, the same without optimizer and scheduler states, and its
parts (parameters, the pretrained transformer's share, a stored tokenizer).

    python -m tools.checkpoint_size logs/train/runs/RUN/checkpoints/last.ckpt [...]

The size without optimizer state is what a checkpoint kept only for evaluation and prediction
needs (``seqtagger-eval`` and ``Predictor`` never read the optimizer state); AdamW keeps two
values per trainable parameter, so it roughly triples a fine-tuned transformer's checkpoint.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path

import torch

TRAINING_ONLY = ("optimizer_states", "lr_schedulers")


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    for path in parser.parse_args(argv).checkpoints:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        buffer = io.BytesIO()
        torch.save({k: v for k, v in checkpoint.items() if k not in TRAINING_ONLY}, buffer)
        weights = checkpoint["state_dict"]
        parameters = sum(value.numel() for value in weights.values())
        transformer = sum(v.numel() for k, v in weights.items() if ".transformer." in k)
        tokenizer = checkpoint.get("seqtagger", {}).get("featurizer", {}).get("tokenizer", "")
        print(
            f"{path}: {megabytes(path.stat().st_size)}; without optimizer state "
            f"{megabytes(buffer.getbuffer().nbytes)}; {parameters:,} parameters "
            f"({transformer:,} in a pretrained transformer); stored tokenizer "
            f"{megabytes(len(tokenizer.encode()))}"
        )


if __name__ == "__main__":
    main()
