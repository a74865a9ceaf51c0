"""The model and batch of the transformer workloads, PyTorch's twin of
bench/workloads/transformer_model.lua: token and position embeddings, a
LayerNorm and dropout, nn.TransformerEncoder of 4
nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=512,
activation="gelu", batch_first=True) (post-norm, dropout 0.1), a [CLS]
linear head to 2 classes; 32 sequences of 256 token ids (vocabulary
8,192) made from the shared image file as the moongrad side makes them."""
import torch
import torch.nn as nn

BATCH, SEQ, VOCAB = 32, 256, 8192


def batch(data):
    """ids int64 [32, 256] (0-based), labels int64 [32] in {0, 1}."""
    v = data["images"].reshape(-1)[:BATCH * SEQ]
    ids = (v * (VOCAB - 1)).long().view(BATCH, SEQ)
    labels = data["labels"][:BATCH] % 2
    return ids, labels


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        d = 128
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(SEQ, d)
        self.emb_norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(0.1)
        layer = nn.TransformerEncoderLayer(d_model=d, nhead=4, dim_feedforward=512, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 4)
        self.head_drop = nn.Dropout(0.1)
        self.head = nn.Linear(d, 2)
        self.register_buffer("positions", torch.arange(SEQ), persistent=False)

    def forward(self, ids):
        e = self.tok(ids) + self.pos(self.positions[:ids.shape[1]])
        h = self.encoder(self.drop(self.emb_norm(e)))
        return self.head(self.head_drop(h[:, 0]))


def set_fast_path(model, on):
    """PyTorch's fused inference path of nn.TransformerEncoderLayer: on is
    its default; off keeps the same arithmetic on the layer-by-layer path
    (torch.backends.mha.set_fastpath_enabled where it exists, else the
    layers' activation_relu_or_gelu flag, which the 1.13 check reads)."""
    mha = getattr(torch.backends, "mha", None)
    if mha is not None and hasattr(mha, "set_fastpath_enabled"):
        mha.set_fastpath_enabled(on)
        return
    for layer in model.encoder.layers:
        layer.activation_relu_or_gelu = 2 if on else 0


def run_inference(harness, name, fast_path):
    def setup(data):
        ids, _ = batch(data)
        model = Classifier().eval()
        set_fast_path(model, fast_path)

        def step():
            with torch.no_grad():
                return model(ids)
        return step
    harness.run(name, BATCH, setup)
