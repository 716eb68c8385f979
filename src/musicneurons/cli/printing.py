"""The findings that ``reproduce`` and ``analyze`` print: per model the music neurons, the health check,
the baselines and nulls, the metrics, the activation detector and the ablation."""

from __future__ import annotations


def print_findings(summary: dict):
    for key, s in summary.items():
        act = s.get("activation") or {}
        abl = s.get("ablation") or {}
        health = s.get("health") or {}
        base = s.get("baselines") or {}
        perm, untr, trained = base.get("permutation") or {}, base.get("untrained") or {}, base.get("trained") or {}
        top = s.get("music_neurons", [])[:5]
        groups = s.get("bootstrap_groups")
        print(f"\n{key} ({s.get('model')}): {s['n_music_neurons']} music neurons "
              f"(mean sigma < {s['sigma_threshold']:.3f}, {s.get('sigma_threshold_rule')}; 95% CI {s.get('n_music_neurons_ci')}"
              + (f", cluster bootstrap over {groups} files" if groups else "") + ")")
        band = (s.get("sensitivity") or {}).get("band") or {}
        if band:
            print("  sensitivity: threshold x" + ", x".join(f"{k}: {v['n_music']}" for k, v in sorted(
                band.items(), key=lambda kv: float(kv[0]))))
        if s.get("n_leaky_neurons") is not None:
            share = (s.get("kl_share") or {}).get("leaky")
            print(f"  non-music dims: {s.get('n_noise_neurons')} noise (Burda-inactive), {s['n_leaky_neurons']} leaky "
                  f"(Burda-active)" + (f" holding {share * 100:.0f} % of the KL" if share is not None else ""))
        aw = s.get("analysed_windows") or {}
        if aw.get("n_in_training") is not None:
            print(f"  analysed windows: {aw['n_in_training']} from sources the model was trained on, {aw['n_held_out']} "
                  f"held out (--windows {aw.get('setting')})")
        ho = (s.get("held_out") or {}).get("held_out")
        if ho:
            hh = ho.get("health") or {}
            t1 = (ho.get("top") or [{}])[0]
            print(f"  held-out windows only ({ho.get('n_windows')} from {ho.get('n_sources')} sources): "
                  f"{ho.get('n_music_neurons')} music neurons (95% CI {ho.get('n_music_neurons_ci')}); health "
                  f"{'passes' if hh.get('passes') else 'fails'} (accuracy {hh.get('recon_accuracy') or 0:.3f} vs "
                  f"always-hold {hh.get('always_hold_accuracy') or 0:.3f}); rank 1 dim {t1.get('latent_index')} "
                  f"{t1.get('top_feature')} (phik {t1.get('top_phik') or 0:.2f})")
        if health:
            verdict = "passes" if health.get("passes") else "FAILS: " + "; ".join(health.get("failures") or [])
            print(f"  health ({health.get('n_windows')} windows): greedy accuracy {health.get('recon_accuracy', 0):.3f} "
                  f"vs always-hold {health.get('always_hold_accuracy', 0):.3f}; sigma gap "
                  f"{'yes' if health.get('sigma_gap_found') else 'no'}; zeroing noise changes "
                  f"{(health.get('noise_zeroing_changed_steps') or 0) * 100:.1f} % of steps -> {verdict}"
                  + ("" if health.get("passes") else " (no paper verdicts for this model)"))
        for n in top:
            label = n["category"] if n.get("clears_null") is not False else "below chance"
            null = f", null q99 {n['top_phik_null_q99']:.2f}" if n.get("top_phik_null_q99") is not None else ""
            stab = (f"  [rank {n['rank_lo']}-{n['rank_hi']}, {n.get('p_same_rank', 0) * 100:.0f} % here]"
                    if n.get("rank_lo") is not None else "")
            print(f"  rank {n['rank']:2d}  dim {n['latent_index']:3d}  var(mu) {n['var_mu']:.3f}  "
                  f"sigma {n['mean_sigma']:.3f}  top {n['top_feature']} ({label}, phik {n['top_phik'] or 0:.2f}{null})"
                  + stab)
        sig = s.get("significance") or {}
        if sig.get("share_bonferroni") is not None:
            print(f"  significance: {sig['share_bonferroni']:.0%} of {sig['n_cells']} neuron x feature cells pass "
                  f"Bonferroni, {sig['share_bh']:.0%} BH (alpha {sig['alpha']:g}); labels use the permutation null")
        if perm:
            judged = [n for n in s.get("music_neurons", []) if n.get("clears_null") is not None]
            print(f"  permutation null ({perm.get('n_permutations')} shuffles): best-phik q99 median "
                  f"{perm.get('best_phik_q99') or 0:.2f}; {sum(bool(n['clears_null']) for n in judged)} of "
                  f"{len(judged)} neurons clear it")
            rj = [n for n in s.get("music_neurons", []) if n.get("clears_spearman_null") is not None]
            if rj:
                print(f"    same shuffles, best |Spearman rho| q99 median {perm.get('best_abs_spearman_q99') or 0:.3f} vs "
                      f"trained {trained.get('median_best_abs_spearman') or 0:.3f}; "
                      f"{sum(bool(n['clears_spearman_null']) for n in rj)} of {len(rj)} neurons clear it")
        tm, um, mn = trained.get("metrics") or {}, untr.get("metrics") or {}, (base.get("metrics_null") or {})
        if tm:
            def mval(d, k):
                return "-" if d.get(k) is None else f"{d[k]:.3f}"

            nm = mn.get("max") or {}
            print("  metrics, trained / untrained / shuffled features"
                  + (f" (max of {mn.get('n_permutations')})" if mn else "") + ": "
                  + ", ".join(f"{k} {mval(tm, k)} / {mval(um, k)} / {mval(nm, k)}"
                              for k in ("mig", "sap", "dci_disentanglement", "dci_informativeness", "interpretability")))
        if untr:
            k = next((k for k in untr if k.startswith("n_best_phik_ge_")), None)
            print(f"  untrained baseline (top {untr.get('n_top')} dims each): median best phik "
                  f"{untr.get('median_best_phik_top') or 0:.2f} ({untr.get(k)} >= {k.rsplit('_', 1)[-1] if k else '?'})"
                  f" vs trained {trained.get('median_best_phik_top') or 0:.2f} ({trained.get(k)}); untrained music "
                  f"neurons by the same rule: {untr.get('n_music_neurons')} ({untr.get('sigma_threshold_rule')})")
        tnull = (s.get("interventions") or {}).get("traversal_null")
        if tnull:
            top = [t for t in (s["interventions"].get("traversal_top_moved") or []) if t.get("clears_null") is not None]
            print(f"  traversals: {sum(bool(t['clears_null']) for t in top)} of {len(top)} traversed neurons move their "
                  f"top feature more than {len(tnull['dims'])} {tnull.get('kind')} dims swept over the prior's range "
                  f"(null max effect {tnull.get('max_effect') or 0:.2f})")
        if act.get("auc") is not None:
            cut = (f"; cut <= {act['noise_count_cut']:g}" if act.get("noise_count_cut") is not None
                   and act["auc"] >= 0.5 else "")
            print(f"  activated noise neurons: real {act['activated_noise_real_mean']:.1f}, random "
                  f"{act['activated_noise_random_mean']:.1f}; music: real {act['activated_music_real_mean']:.1f}, "
                  f"random {act['activated_music_random_mean']:.1f}; detector AUC {act['auc']:.3f}{cut}")
            bc = act.get("by_class")
            if bc:
                parts = [f"{c} real {bc[r][c]['real_mean']:.1f} / random {bc[r][c]['random_mean']:.1f}"
                         for r in ("fixed", "spread_scaled") for c in ("noise", "leaky")]
                thr = ((s.get("settings") or {}).get("activation") or {}).get("activation_threshold")
                print(f"    by class, |mu| > {thr}: {parts[0]}, {parts[1]}; "
                      f"outside 2 sd of real: {parts[2]}, {parts[3]}")
        if abl.get("recon_accuracy_full") is not None:
            print(f"  reconstruction accuracy: full {abl['recon_accuracy_full']:.3f}, noise neurons zeroed "
                  f"{abl['recon_accuracy_noise_zeroed']:.3f}")
