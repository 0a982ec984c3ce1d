"""The recurrent node of a GHN: message function M and update function U."""

import torch
from torch import nn


class MessageMLP(nn.Module):
    """M: a 2-layer MLP on the sender's embedding."""

    def __init__(self, *, hidden_size: int, message_hidden_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, message_hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(message_hidden_size, hidden_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(h)))


class GraphCell(nn.Module):
    """M (2-layer MLP) and U (GRU cell) of one GNN; optionally a separate M for children."""

    def __init__(
        self, *, hidden_size: int, message_hidden_size: int, separate_backward_message: bool
    ) -> None:
        super().__init__()
        self.message = MessageMLP(hidden_size=hidden_size, message_hidden_size=message_hidden_size)
        self.children_message = (
            MessageMLP(hidden_size=hidden_size, message_hidden_size=message_hidden_size)
            if separate_backward_message
            else None
        )
        self.gru = nn.GRUCell(hidden_size, hidden_size)

    def backward_message(self, h: torch.Tensor) -> torch.Tensor:
        """M applied to messages that travel from children to parents."""
        message = self.children_message if self.children_message is not None else self.message
        return message(h)

    def update(self, m: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """U(h, m): the GRU cell reads the message as input and the embedding as state."""
        return self.gru(m, h)
