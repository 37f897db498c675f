"""How natural a text reads to a masked language model: its pseudo-log-likelihood.

Gradient-crafted passages are sequences of word pieces no writer would put together; a
masked language model, asked to restore each token from the others, finds them improbable.
The pseudo-log-likelihood (Salazar et al., 2020) is the mean log-probability of each token
with that token masked; it needs no left-to-right model, so any BERT-style masked LM that
ships offline serves (SPLADE models are one: ``BertForMaskedLM`` checkpoints).

Cost: one forward pass per token of each text, batched per text, with the vocabulary
projection applied at the masked positions only (the projection is most of a small model's
work); texts are cut to ``max_length`` tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorbridge.errors import InvalidInputError


class MaskedLMFluency:
    """Pseudo-log-likelihood of texts under a masked language model (higher = more fluent).

    Args:
        model: A folder or name of a ``*ForMaskedLM`` checkpoint (loaded offline).
        max_length: Tokens scored per text (the rest is cut).
    """

    def __init__(self, model: str | Path, *, max_length: int = 64) -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 3:
            raise InvalidInputError(f"max_length must be an int >= 3, got {max_length!r}.")
        self.path, self.max_length = str(model), max_length
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModelForMaskedLM.from_pretrained(self.path).eval()
        if self.tokenizer.mask_token_id is None:
            raise InvalidInputError(f"{self.path} has no mask token: use a masked language model.")

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Mean log-probability of each text's tokens, each predicted with itself masked."""
        import torch

        out = np.empty(len(texts))
        body, head = self.model.base_model, self.model.get_output_embeddings()
        transform = _prediction_transform(self.model)
        for i, text in enumerate(texts):
            ids = self.tokenizer(text, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")["input_ids"][0]
            n = len(ids) - 2  # the tokens between the special ones
            if n < 1:
                out[i] = 0.0
                continue
            pos = torch.arange(1, n + 1)
            batch = ids.repeat(n, 1)
            batch[torch.arange(n), pos] = self.tokenizer.mask_token_id
            with torch.no_grad():
                hidden = body(input_ids=batch).last_hidden_state[torch.arange(n), pos]
                logp = torch.log_softmax(head(transform(hidden)), dim=-1)
            out[i] = float(logp[torch.arange(n), ids[pos]].mean())
        return out


def _prediction_transform(model: Any) -> Any:
    """The dense + activation + layer norm a BERT-style MLM head applies before its vocabulary
    projection (identity where the model has none)."""
    cls = getattr(model, "cls", None)
    transform = getattr(getattr(cls, "predictions", None), "transform", None)
    return transform if transform is not None else (lambda h: h)


__all__ = ["MaskedLMFluency"]
