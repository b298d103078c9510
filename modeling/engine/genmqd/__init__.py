"""GenMQD query synthesis: synthesise the feature vector the model most needs a label for
(influence functions), describe it in words through the shared image-text space, gather the
pool images that match the words.

    queries = class_queries(L_features, L_labels, V_features, V_labels, n_classes=2,
                            targets=[1, 0], per_class=10, vectors=store.vectors,
                            pool_features=store.features, decoder=decoder_for(encoder))

Modules: ``head`` (the small softmax head refit on L + x*), ``influence`` (HVPs, CG,
I_pert), ``synthesis`` (Algorithm 1), ``describe`` and ``decoders`` (x* in words),
``gather`` (nearest pool items), ``queries`` (all of it per class).
"""

from modeling.engine.genmqd.decoders import decoder_for, imagenet_head, phrase_bank
from modeling.engine.genmqd.describe import (
    Decoder,
    Description,
    ImageNetDecoder,
    Phrase,
    PhraseBankDecoder,
)
from modeling.engine.genmqd.gather import mean_features, nearest, similarity
from modeling.engine.genmqd.queries import ClassQuery, class_queries, split_validation
from modeling.engine.genmqd.synthesis import Synthesis, SynthesisConfig, class_centre, synthesize

__all__ = [
    "ClassQuery",
    "Decoder",
    "Description",
    "ImageNetDecoder",
    "Phrase",
    "PhraseBankDecoder",
    "Synthesis",
    "SynthesisConfig",
    "class_centre",
    "class_queries",
    "decoder_for",
    "imagenet_head",
    "mean_features",
    "nearest",
    "phrase_bank",
    "similarity",
    "split_validation",
    "synthesize",
]
