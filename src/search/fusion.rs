//! Fusing the dense and the keyword candidate lists into one ranking.
//!
//! Done here rather than in the index's query API so that every hit keeps each side's own score
//! (`denseScore`, `keywordScore`), each side can be weighted, and both vector backends rank
//! identically: they only supply the two candidate lists.

use std::collections::HashMap;

use uuid::Uuid;

/// How two ranked lists become one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: `Σ weight / (k + rank)`, ranks from 1 (Cormack et al., 2009). It
    /// reads ranks only, so the sides' score scales do not matter; `k` = 60 is the paper's.
    Rrf { k: f32 },
    /// Distribution-based score fusion (Qdrant's): each side's scores are mapped to 0..1 over
    /// their mean ± 3 standard deviations, then summed with the weights.
    Dbsf,
}

/// One side's weight in the fused score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub dense: f32,
    pub keyword: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            dense: 1.0,
            keyword: 1.0,
        }
    }
}

/// A candidate as one side ranked it, best first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub id: Uuid,
    pub score: f32,
}

/// A candidate after fusion, with what each side said of it (`None`: that side did not return
/// it among its candidates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    pub id: Uuid,
    pub score: f32,
    pub dense: Option<f32>,
    pub keyword: Option<f32>,
}

/// Fuses the two lists, best first; ties are broken by id so that pages are stable.
pub fn fuse(dense: &[Ranked], keyword: &[Ranked], fusion: Fusion, weights: Weights) -> Vec<Fused> {
    let mut fused: HashMap<Uuid, Fused> = HashMap::with_capacity(dense.len() + keyword.len());
    let dense_contributions = contributions(dense, fusion, weights.dense);
    let keyword_contributions = contributions(keyword, fusion, weights.keyword);
    for (hit, contribution) in dense.iter().zip(dense_contributions) {
        let entry = fused.entry(hit.id).or_insert_with(|| Fused::empty(hit.id));
        entry.score += contribution;
        entry.dense = Some(hit.score);
    }
    for (hit, contribution) in keyword.iter().zip(keyword_contributions) {
        let entry = fused.entry(hit.id).or_insert_with(|| Fused::empty(hit.id));
        entry.score += contribution;
        entry.keyword = Some(hit.score);
    }
    let mut fused: Vec<Fused> = fused.into_values().collect();
    sort_best_first(&mut fused);
    fused
}

/// Which side a single-mode list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Dense,
    Keyword,
}

/// One side's list as it ranked it (dense or keyword mode): its score is the hit's score.
pub fn single(side: &[Ranked], which: Side) -> Vec<Fused> {
    let mut hits: Vec<Fused> = side
        .iter()
        .map(|hit| Fused {
            id: hit.id,
            score: hit.score,
            dense: (which == Side::Dense).then_some(hit.score),
            keyword: (which == Side::Keyword).then_some(hit.score),
        })
        .collect();
    sort_best_first(&mut hits);
    hits
}

/// Orders by score, then id: the same candidates always come out in the same order.
pub fn sort_best_first(hits: &mut [Fused]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
}

impl Fused {
    fn empty(id: Uuid) -> Self {
        Fused {
            id,
            score: 0.0,
            dense: None,
            keyword: None,
        }
    }
}

/// What each candidate of one side adds to its fused score.
fn contributions(side: &[Ranked], fusion: Fusion, weight: f32) -> Vec<f32> {
    match fusion {
        Fusion::Rrf { k } => (1..=side.len())
            .map(|rank| weight / (k + rank as f32))
            .collect(),
        Fusion::Dbsf => {
            if side.is_empty() {
                return Vec::new();
            }
            let n = side.len() as f32;
            let mean = side.iter().map(|hit| hit.score).sum::<f32>() / n;
            let variance = side
                .iter()
                .map(|hit| (hit.score - mean).powi(2))
                .sum::<f32>()
                / n;
            let spread = 3.0 * variance.sqrt();
            let (low, high) = (mean - spread, mean + spread);
            side.iter()
                .map(|hit| {
                    let normalized = if high > low {
                        ((hit.score - low) / (high - low)).clamp(0.0, 1.0)
                    } else {
                        // One candidate, or all equal: every one is as good as the best.
                        1.0
                    };
                    weight * normalized
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn ranked(ids_and_scores: &[(u128, f32)]) -> Vec<Ranked> {
        ids_and_scores
            .iter()
            .map(|&(n, score)| Ranked { id: id(n), score })
            .collect()
    }

    #[test]
    fn rrf_rewards_agreement_and_keeps_each_sides_score() {
        let dense = ranked(&[(1, 0.9), (2, 0.8), (3, 0.7)]);
        let keyword = ranked(&[(3, 12.0), (4, 8.0)]);
        let fused = fuse(
            &dense,
            &keyword,
            Fusion::Rrf { k: 60.0 },
            Weights::default(),
        );
        assert_eq!(fused[0].id, id(3), "found by both sides");
        assert!((fused[0].score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(fused[0].dense, Some(0.7));
        assert_eq!(fused[0].keyword, Some(12.0));
        assert_eq!(fused[1].id, id(1));
        assert_eq!(fused[1].keyword, None);
        assert_eq!(fused.len(), 4);
    }

    #[test]
    fn weights_tilt_the_ranking_and_zero_removes_a_side() {
        let dense = ranked(&[(1, 0.9)]);
        let keyword = ranked(&[(2, 5.0)]);
        let tilted = Weights {
            dense: 1.0,
            keyword: 2.0,
        };
        assert_eq!(
            fuse(&dense, &keyword, Fusion::Rrf { k: 60.0 }, tilted)[0].id,
            id(2)
        );
        let dense_only = Weights {
            dense: 1.0,
            keyword: 0.0,
        };
        let fused = fuse(&dense, &keyword, Fusion::Dbsf, dense_only);
        assert_eq!(fused[0].id, id(1));
        assert_eq!(fused[1].score, 0.0);
    }

    #[test]
    fn dbsf_maps_each_side_into_the_unit_range() {
        let dense = ranked(&[(1, 0.9), (2, 0.5), (3, 0.1)]);
        let keyword = ranked(&[(4, 30.0), (5, 10.0)]);
        let fused = fuse(&dense, &keyword, Fusion::Dbsf, Weights::default());
        assert!(fused.iter().all(|hit| (0.0..=1.0).contains(&hit.score)));
        let single = fuse(&ranked(&[(9, 0.3)]), &[], Fusion::Dbsf, Weights::default());
        assert_eq!(single[0].score, 1.0);
    }

    #[test]
    fn ties_are_broken_by_id_whatever_the_input_order() {
        let a = ranked(&[(7, 0.5)]);
        let b = ranked(&[(3, 0.5)]);
        let one = fuse(&a, &b, Fusion::Rrf { k: 60.0 }, Weights::default());
        let other = fuse(&b, &a, Fusion::Rrf { k: 60.0 }, Weights::default());
        assert_eq!(one[0].id, id(3));
        assert_eq!(
            one.iter().map(|h| h.id).collect::<Vec<_>>(),
            other.iter().map(|h| h.id).collect::<Vec<_>>()
        );
    }
}
