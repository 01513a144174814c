"""The encoder reward model as a transformers class: BERT without its pooler, then mean (or CLS)
pooling of the last hidden states and a ``Linear(hidden, num_labels)`` head.

``BertForSequenceClassification`` feeds its head the pooler's ``tanh(W h_cls)``, which our
MiniLM reward model never trained (it mean-pools), so no stock class reproduces its score.
``arm-exp export`` copies this file into the exported folder and names it in ``config.json``'s
``auto_map``, so ``AutoModelForSequenceClassification.from_pretrained(folder,
trust_remote_code=True)`` loads it anywhere; arm-exp's own loader imports it from here instead
(no remote code). It imports only torch and transformers: it must run outside arm-exp.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPoolBertForSequenceClassification(BertPreTrainedModel):
    """BERT + pooling (``config.arm_exp_pooling``: ``mean`` over real tokens, or ``cls``) +
    linear head; ``logits`` [batch, num_labels]. No loss: a reward model is scored, or trained
    by a preference loss outside the model."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.pooling = getattr(config, "arm_exp_pooling", "mean")
        self.bert = BertModel(config, add_pooling_layer=False)
        self.score = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        return SequenceClassifierOutput(logits=self.score(pooled))
