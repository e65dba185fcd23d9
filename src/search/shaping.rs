//! Shaping a ranked candidate list into a page: diversity (MMR), one hit per document, paging.
//!
//! Pure functions over the ranked list, so every mode and every backend shapes alike.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::fusion::Fused;

/// A ranked candidate: its scores (`fused.score` ranks it), its document, and its chunk's
/// unit-length embedding when fetched, for diversity.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub fused: Fused,
    pub document_id: Uuid,
    pub vector: Option<Arc<Vec<f32>>>,
}

/// Maximal marginal relevance (Carbonell & Goldstein, 1998): picks `n` candidates one at a time,
/// each maximising `(1 - diversity) · relevance − diversity · (its highest cosine similarity to
/// those already picked)`. Relevance is the ranking score as a fraction of the best one's, so the
/// trade-off reads alike in every mode (cosine, BM25 and fused scores have different scales)
/// and, unlike min-max scaling, does not push the last candidate to zero whatever its score.
/// `diversity` 0 keeps the ranking as it is.
/// Candidates without a vector are taken as unlike every other.
pub fn mmr(candidates: Vec<Candidate>, diversity: f32, n: usize) -> Vec<Candidate> {
    if diversity <= 0.0 || candidates.len() <= 1 {
        return candidates.into_iter().take(n).collect();
    }
    let best = candidates
        .iter()
        .map(|c| c.fused.score)
        .fold(f32::NEG_INFINITY, f32::max);
    let relevance = |score: f32| if best > 0.0 { score / best } else { 1.0 };
    let mut remaining = candidates;
    // The highest similarity of each remaining candidate to anything picked so far.
    let mut closest = vec![f32::NEG_INFINITY; remaining.len()];
    let mut picked: Vec<Candidate> = Vec::with_capacity(n.min(remaining.len()));
    while picked.len() < n && !remaining.is_empty() {
        let best = (0..remaining.len())
            .max_by(|&a, &b| {
                let value = |i: usize| {
                    // Nothing picked yet, or no vector to compare: no redundancy.
                    let redundancy = if closest[i].is_finite() {
                        closest[i]
                    } else {
                        0.0
                    };
                    (1.0 - diversity) * relevance(remaining[i].fused.score) - diversity * redundancy
                };
                // On equal value, the earlier (better-ranked) candidate wins.
                value(a).total_cmp(&value(b)).then_with(|| b.cmp(&a))
            })
            .expect("remaining is not empty");
        // `remove`, not `swap_remove`: the rest stay in rank order, which ties fall back on.
        let chosen = remaining.remove(best);
        closest.remove(best);
        if let Some(chosen_vector) = &chosen.vector {
            for (i, candidate) in remaining.iter().enumerate() {
                if let Some(vector) = &candidate.vector {
                    closest[i] = closest[i].max(dot(chosen_vector, vector));
                }
            }
        }
        picked.push(chosen);
    }
    picked
}

/// Cosine similarity of two unit-length vectors.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The best candidate of each document, in rank order, with how many of the document's chunks
/// were among the candidates.
pub fn best_per_document(candidates: Vec<Candidate>) -> Vec<(Candidate, usize)> {
    let mut matched: HashMap<Uuid, usize> = HashMap::new();
    for candidate in &candidates {
        *matched.entry(candidate.document_id).or_default() += 1;
    }
    let mut seen = std::collections::HashSet::new();
    candidates
        .into_iter()
        .filter(|candidate| seen.insert(candidate.document_id))
        .map(|candidate| {
            let count = matched[&candidate.document_id];
            (candidate, count)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(n: u128, document: u128, score: f32, vector: &[f32]) -> Candidate {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        Candidate {
            fused: Fused {
                id: Uuid::from_u128(n),
                score,
                dense: None,
                keyword: None,
            },
            document_id: Uuid::from_u128(document),
            vector: Some(Arc::new(vector.iter().map(|x| x / norm).collect())),
        }
    }

    fn ids(candidates: &[Candidate]) -> Vec<u128> {
        candidates.iter().map(|c| c.fused.id.as_u128()).collect()
    }

    #[test]
    fn no_diversity_keeps_the_ranking() {
        let candidates = vec![
            candidate(1, 1, 0.9, &[1.0, 0.0]),
            candidate(2, 2, 0.8, &[1.0, 0.0]),
            candidate(3, 3, 0.7, &[0.0, 1.0]),
        ];
        assert_eq!(ids(&mmr(candidates, 0.0, 2)), vec![1, 2]);
    }

    #[test]
    fn diversity_skips_near_duplicates() {
        let candidates = vec![
            candidate(1, 1, 0.9, &[1.0, 0.0]),
            candidate(2, 2, 0.89, &[1.0, 0.01]),
            candidate(3, 3, 0.7, &[0.0, 1.0]),
        ];
        assert_eq!(ids(&mmr(candidates, 0.5, 2)), vec![1, 3]);
    }

    #[test]
    fn grouping_keeps_each_documents_best_and_counts_its_chunks() {
        let candidates = vec![
            candidate(1, 10, 0.9, &[1.0]),
            candidate(2, 20, 0.8, &[1.0]),
            candidate(3, 10, 0.7, &[1.0]),
        ];
        let groups = best_per_document(candidates);
        assert_eq!(
            groups
                .iter()
                .map(|(c, n)| (c.fused.id.as_u128(), *n))
                .collect::<Vec<_>>(),
            vec![(1, 2), (2, 1)]
        );
    }
}
