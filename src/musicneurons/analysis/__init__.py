"""Torch-free analysis of a latent space: arrays in, estimators (sklearn style), tables out.

Modules: ``neurons`` (music/noise split), ``correlate`` (phik, Spearman, MI), ``attributes``
(attribute vectors), ``activation`` (real vs random), ``intervene`` (traversals, ablations via
callables), ``metrics`` (MIG, SAP, DCI, Interpretability, total correlation), ``twinkle``
(the running example), ``summary`` (one-call analysis and its JSON summary), ``synthetic``
(planted latents for tests and demos), ``baselines`` (permutation null and untrained-model chance levels),
``health`` (the model-health gate).

Typical use (``mu``, ``sigma`` (N, 512) from the encoder; ``features`` an (N, F) DataFrame
with feature-id columns and ``categories`` {id: "P"|"R"|"M"}; ``decode_fn(z) -> events``)::

    from musicneurons.analysis import analyze_latents, summarize, Traversal
    a2 = analyze_latents(mu, sigma, features, categories, mu_random=mu_rand,
                         events=events, decode_fn=decode_fn, metrics=True)
    print(a2.profile.describe()); a2.profile.table(); a2.correlation.top_features_
    curves = Traversal().fit(mu[:200], a2.profile.order_[:8], decode_fn, features_fn,
                             population_mu=mu).response_
    json.dump(summarize({"2bar": a2}), open("summary.json", "w"))
"""

from .activation import RealRandomDetector, count_activated, key_neuron_histograms
from .attributes import AttributeVectors, attribute_vector
from .baselines import PhikPermutationNull, baselines_summary, phik_from_tables, untrained_baseline
from .health import HEALTH_THRESHOLDS, health_gate
from .correlate import NeuronFeatureCorrelation, neuron_correlations, phik_rect, phik_square
from .intervene import NeuronAblation, Traversal, ablate_noise, reconstruction_accuracy
from .metrics import (dci, dci_from_importance, disentanglement_report, gaussian_total_correlation,
                      interpretability, mig, sap)
from .neurons import NeuronProfile, kl_per_dim, sigma_threshold_auto
from .summary import LatentAnalysis, analyze_latents, summarize, summarize_model, to_jsonable
from .synthetic import PlantedLatents, make_planted_latents
from .twinkle import twinkle_events, twinkle_posterior, twinkle_table

__all__ = [
    "AttributeVectors", "HEALTH_THRESHOLDS", "LatentAnalysis", "PhikPermutationNull", "baselines_summary",
    "health_gate", "phik_from_tables", "untrained_baseline", "NeuronAblation", "NeuronFeatureCorrelation", "NeuronProfile",
    "PlantedLatents", "RealRandomDetector", "Traversal", "ablate_noise", "analyze_latents", "attribute_vector",
    "count_activated", "dci", "dci_from_importance", "disentanglement_report", "gaussian_total_correlation",
    "interpretability", "key_neuron_histograms", "kl_per_dim", "make_planted_latents", "mig",
    "neuron_correlations", "phik_rect", "phik_square", "reconstruction_accuracy", "sap",
    "sigma_threshold_auto", "summarize", "summarize_model", "to_jsonable", "twinkle_events", "twinkle_posterior",
    "twinkle_table",
]
