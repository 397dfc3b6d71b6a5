"""The two-tower retrieval model.

Index 0 of the user and item vocabularies is reserved for padding / unknown, so a
history tensor can be right-padded with zeros and an unknown user maps to 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    n_users: int  # vocabulary sizes include the padding row 0
    n_items: int
    n_categories: int
    n_brands: int
    dim: int = 64  # output embedding size of both towers
    hidden: int = 128  # user-tower MLP width
    history_len: int = 20  # last-N items averaged into the user tower
    init_temperature: float = 0.05

    def to_dict(self) -> dict:
        return {"class": "TwoTower", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**fields)


class TwoTower(nn.Module):
    """User tower: id embedding ⊕ mean of last-N item ids → MLP. Item tower: id+category+brand.

    Both outputs are L2-normalised; the logit scale (1 / temperature) is learned.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.user_id = nn.Embedding(config.n_users, d, padding_idx=0)
        self.history_item = nn.Embedding(config.n_items, d, padding_idx=0)
        self.user_mlp = nn.Sequential(
            nn.Linear(2 * d, config.hidden), nn.GELU(), nn.Linear(config.hidden, d)
        )
        self.item_id = nn.Embedding(config.n_items, d, padding_idx=0)
        self.category = nn.Embedding(config.n_categories, d)
        self.brand = nn.Embedding(config.n_brands, d)
        self.item_proj = nn.Linear(d, d)
        self.logit_scale = nn.Parameter(torch.tensor(float(1.0 / config.init_temperature)).log())
        for emb in (self.user_id, self.history_item, self.item_id, self.category, self.brand):
            nn.init.normal_(emb.weight, std=0.05)

    def user_vectors(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """users: [B] ids; history: [B, N] item ids right-padded with 0."""
        mask = (history > 0).unsqueeze(-1).to(self.history_item.weight.dtype)
        hist = (self.history_item(history) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out = self.user_mlp(torch.cat([self.user_id(users), hist], dim=-1))
        return F.normalize(out, dim=-1)

    def item_vectors(
        self, items: torch.Tensor, categories: torch.Tensor, brands: torch.Tensor
    ) -> torch.Tensor:
        x = self.item_id(items) + self.category(categories) + self.brand(brands)
        return F.normalize(x + self.item_proj(x), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=100.0)

    def forward(
        self,
        users: torch.Tensor,
        history: torch.Tensor,
        items: torch.Tensor,
        categories: torch.Tensor,
        brands: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(user vectors, item vectors, logit scale): one call, so DDP can sync gradients."""
        return (
            self.user_vectors(users, history),
            self.item_vectors(items, categories, brands),
            (self.scale()),
        )
