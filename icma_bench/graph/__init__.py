"""The GIN graph encoder behind ``--method graph``: Mole-BERT / pretrain-gnns architecture and featurisation.

``featurize`` (RDKit -> integer atom/bond features, no torch), ``model`` (the GIN on torch_geometric, and its fused
inference forward), ``weights`` (shipped safetensors, pretrain-gnns/Mole-BERT checkpoints, strict loading),
``embed`` (batched, cached embeddings), ``pretrain`` (attribute-masking pretraining and its test-free training
set). Importing this package imports neither torch nor torch_geometric; ``model``, ``weights`` and the embedding
computation do (extra ``graph``).
"""
