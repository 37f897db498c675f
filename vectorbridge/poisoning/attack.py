"""Corpus poisoning by gradient-guided token substitution (GASLITE / HotFlip / GCG), on CPU.

A corpus that users can edit (a wiki, reviews, a shared drive) lets an attacker add a few
passages written *for the embedding model*: token sequences whose embedding sits where a
topic's queries land, so they reach the top 10 for queries the attacker never saw
(GASLITE, Ben-Tov & Sharif, 2024: 61-100 % of unseen concept queries with <= 0.0001 % of
MS MARCO). :class:`PoisonAttack` writes such passages against any sentence-transformers
model, so a deployment can measure its own exposure and its defence
(:mod:`~vectorbridge.poisoning.defence`) before someone else does.

The method: a passage is ``prefix`` (the attacker's message, kept as written) + ``length``
trigger tokens. Each step takes the gradient of the cosine between the passage embedding and
the target (the mean of the concept's query embeddings) with respect to a one-hot encoding of
the trigger tokens; the ``top_k`` tokens with the best first-order gain per position are the
candidates (HotFlip), ``batch`` random (position, candidate) swaps are scored exactly in one
forward pass and the best kept if it improves (GCG). With ``budget > 1`` the concept's
queries are clustered (k-means, seeded) and one passage aims at each cluster, as GASLITE does.

The target is the embedding of the passage *text* as the pipeline will see it: the final
passages are decoded to text, and their similarity is re-measured by encoding that text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from vectorbridge.errors import InvalidInputError


@dataclass(frozen=True)
class Crafted:
    """One adversarial passage: its text, the cosine of its re-encoded embedding to the target
    it was optimised for, and the same for the prefix alone (NaN without a prefix)."""

    text: str
    similarity: float
    start_similarity: float


class PoisonAttack:
    """Writes adversarial passages for a concept (a set of query embeddings).

    Args:
        model: A sentence-transformers model (name, folder, object) or a
            :class:`~vectorbridge.encoders.DenseEncoder` (its model is used). Mean or CLS
            pooling over a BERT-style transformer.
        length: Trigger tokens per passage.
        steps: Optimisation steps per passage (one gradient + one batched forward each).
        top_k: Candidate tokens per position, by gradient.
        batch: Swaps scored per step.
        seed: Seeds initialisation, clustering and the swaps: the same inputs give the same passages.
    """

    def __init__(self, model: Any, *, length: int = 32, steps: int = 200, top_k: int = 64,
                 batch: int = 64, seed: int = 0) -> None:
        for name, v in (("length", length), ("steps", steps), ("top_k", top_k), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {v!r}.")
        st = getattr(model, "model", model)
        if isinstance(st, str) or not hasattr(st, "tokenizer"):
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(str(st), device="cpu")
        import torch

        if next(st.parameters()).dtype != torch.float32:
            # A bfloat16 encoder (the default where the CPU has it): gradients over token
            # one-hots need float32, and the caller's model is left as it is.
            st = copy.deepcopy(st).float()
        self.st = st
        self.length, self.steps, self.top_k, self.batch, self.seed = length, steps, top_k, batch, seed
        self.transformer = st[0].auto_model
        self.tokenizer = st.tokenizer
        mode = getattr(st[1], "pooling_mode", "mean") if len(st) > 1 else "mean"
        pooling = mode if isinstance(mode, str) else "+".join(map(str, mode))
        if pooling not in ("mean", "cls"):
            raise InvalidInputError(f"PoisonAttack needs mean or CLS pooling, the model has {pooling!r}.")
        self.pooling = pooling
        self.allowed = self._allowed_tokens()

    def _allowed_tokens(self) -> np.ndarray:
        """Vocabulary ids of plain ASCII word pieces (no special, unused or punctuation tokens),
        so a passage decodes to text that re-tokenizes close to what was optimised."""
        vocab = self.tokenizer.get_vocab()
        special = set(self.tokenizer.all_special_ids)
        ok = [i for t, i in vocab.items() if i not in special and t.removeprefix("##").isascii()
              and t.removeprefix("##").isalpha() and not t.startswith("[")]
        return np.array(sorted(ok))

    # -- the model as a differentiable function of token ids --------------------------------
    def _embed(self, ids: Any, one_hot: Any = None) -> Any:
        import torch

        mask = torch.ones_like(ids)
        if one_hot is None:
            hidden = self.transformer(input_ids=ids, attention_mask=mask).last_hidden_state
        else:
            table = self.transformer.get_input_embeddings().weight
            hidden = self.transformer(inputs_embeds=one_hot @ table,
                                      attention_mask=mask).last_hidden_state
        pooled = hidden[:, 0] if self.pooling == "cls" else hidden.mean(dim=1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def _optimise(self, prefix_ids: list[int], target: Any, rng: np.random.Generator) -> list[int]:
        import torch

        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        trigger = rng.choice(self.allowed, self.length).tolist()
        start = 1 + len(prefix_ids)  # trigger positions in the full sequence
        allowed = torch.zeros(self.transformer.get_input_embeddings().weight.shape[0], dtype=torch.bool)
        allowed[torch.from_numpy(self.allowed)] = True

        def sequence(trig: list[int]) -> list[int]:
            return [cls_id, *prefix_ids, *trig, sep_id]

        with torch.no_grad():
            best = float(self._embed(torch.tensor([sequence(trigger)])) @ target)
        for _ in range(self.steps):
            ids = torch.tensor([sequence(trigger)])
            one_hot = torch.nn.functional.one_hot(ids, allowed.shape[0]).float().requires_grad_(True)
            sim = (self._embed(ids, one_hot) @ target).sum()
            (grad,) = torch.autograd.grad(sim, one_hot)
            gain = grad[0, start:start + self.length].masked_fill(~allowed, float("-inf"))
            cands = gain.topk(self.top_k, dim=1).indices.numpy()  # (length, top_k)
            pos = rng.integers(0, self.length, self.batch)
            tok = cands[pos, rng.integers(0, self.top_k, self.batch)]
            trials = [list(trigger) for _ in range(self.batch)]
            for t, p, k in zip(trials, pos, tok):
                t[p] = int(k)
            with torch.no_grad():
                sims = (self._embed(torch.tensor([sequence(t) for t in trials])) @ target).numpy()
            j = int(sims.argmax())
            if sims[j] > best:
                best, trigger = float(sims[j]), trials[j]
        return trigger

    def craft(self, target_queries: object, budget: int = 1, prefix: str = "") -> list[Crafted]:
        """``budget`` passages aimed at the concept whose query embeddings are
        ``target_queries`` (``(n, dim)``, from the same model), each starting with ``prefix``."""
        import torch

        T = np.asarray(target_queries, dtype=np.float32)
        if T.ndim != 2 or not len(T) or not np.isfinite(T).all():
            raise InvalidInputError(f"target_queries must be a finite (n, dim) array, got {T.shape}.")
        if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= len(T):
            raise InvalidInputError(f"budget must be an int in [1, {len(T)}] (at most one passage "
                                    f"per target query), got {budget!r}.")
        rng = np.random.default_rng(self.seed)
        centres = _cluster_means(T / np.linalg.norm(T, axis=1, keepdims=True), budget, rng)
        prefix_ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        out = []
        self.transformer.eval()
        for centre in centres:
            target = torch.from_numpy(centre / np.linalg.norm(centre))
            trigger = self._optimise(prefix_ids, target, rng)
            words = self.tokenizer.decode(trigger, clean_up_tokenization_spaces=True)
            text = f"{prefix} {words}" if prefix else words  # the prefix exactly as given
            emb = self.st.encode([text, prefix or text], normalize_embeddings=True)
            out.append(Crafted(text, float(emb[0] @ target.numpy()),
                               float(emb[1] @ target.numpy()) if prefix else float("nan")))
        return out


def _cluster_means(X: np.ndarray, k: int, rng: np.random.Generator, iters: int = 25) -> np.ndarray:
    """k-means (cosine) centres of the rows of ``X``; k=1 is their mean."""
    centres = X[rng.choice(len(X), k, replace=False)]
    for _ in range(iters if k > 1 else 0):
        assign = (X @ centres.T).argmax(axis=1)
        centres = np.stack([X[assign == j].mean(axis=0) if (assign == j).any() else centres[j]
                            for j in range(k)])
    return centres if k > 1 else X.mean(axis=0, keepdims=True)


__all__ = ["PoisonAttack", "Crafted"]
