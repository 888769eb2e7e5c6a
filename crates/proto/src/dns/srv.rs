//! RFC 2782 "Usage rules": the order in which a client tries SRV targets.
//!
//! This file owns the ordering by priority and the weighted random choice
//! within a priority, and the "." target. The random numbers come from the
//! caller, so a test can feed every value and a run can be replayed. It does
//! not own resolving the targets or trying them.

use super::Srv;

/// The targets of an SRV answer, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrvTargets {
    /// RFC 2782: 'A Target of "." means that the service is decidedly not
    /// available at this domain.' Do not fall back to other ways of finding
    /// it in this domain.
    Unavailable,
    /// The records to try, first to last. Empty when the answer had none.
    Ordered(Vec<Srv>),
}

/// Order SRV records as RFC 2782 tells a client to.
///
/// `draw(n)` must return a uniform random number in `0..=n` (both ends
/// included, as the RFC says "between 0 and the sum computed
/// (inclusive)"); a value above `n` is taken as `n`.
///
/// Records whose target is "." are the service's "not available" marker:
/// if every record is one, the answer is [`SrvTargets::Unavailable`]; mixed
/// with real targets (which RFC 2782 does not foresee) they are dropped.
pub fn order_srv(records: &[Srv], draw: &mut impl FnMut(u32) -> u32) -> SrvTargets {
    let mut usable: Vec<&Srv> = records.iter().filter(|r| !r.is_unavailable()).collect();
    if usable.is_empty() && !records.is_empty() {
        return SrvTargets::Unavailable;
    }
    // "Sort the RRs by priority (lowest number first)"; the stable sort
    // keeps the received order within a priority.
    usable.sort_by_key(|r| r.priority);

    let mut ordered = Vec::with_capacity(usable.len());
    let mut rest = usable.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let (group, tail) = rest.split_at(same);
        order_one_priority(group, draw, &mut ordered);
        rest = tail;
    }
    SrvTargets::Ordered(ordered)
}

/// The weighted selection within one priority, repeated until every record
/// of the priority is ordered.
fn order_one_priority(group: &[&Srv], draw: &mut impl FnMut(u32) -> u32, out: &mut Vec<Srv>) {
    // "arrange all SRV RRs (that have not been ordered yet) in any order,
    // except that all those with weight 0 are placed at the beginning of
    // the list."
    let mut list: Vec<&Srv> = group.iter().filter(|r| r.weight == 0).copied().collect();
    list.extend(group.iter().filter(|r| r.weight != 0).copied());

    while !list.is_empty() {
        // "Compute the sum of the weights of those RRs, and with each RR
        // associate the running sum in the selected order." At most 65535
        // records of weight at most 65535: the sum fits in u32, saturating
        // only guards the arithmetic.
        let sum = list
            .iter()
            .fold(0u32, |acc, r| acc.saturating_add(u32::from(r.weight)));
        // "Then choose a uniform random number between 0 and the sum
        // computed (inclusive)"
        let pick = draw(sum).min(sum);
        // "and select the RR whose running sum value is the first in the
        // selected order which is greater than or equal to the random
        // number selected."
        let mut running = 0u32;
        let index = list
            .iter()
            .position(|r| {
                running = running.saturating_add(u32::from(r.weight));
                running >= pick
            })
            .unwrap_or(0); // unreachable: the last running sum equals `sum`
        // "Remove this SRV RR from the set of the unordered SRV RRs and
        // apply the described algorithm to the unordered SRV RRs to select
        // the next target host."
        if index < list.len() {
            let chosen = list.remove(index);
            out.push(chosen.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 5061,
            target: target.into(),
        }
    }

    fn targets(t: &SrvTargets) -> Vec<&str> {
        match t {
            SrvTargets::Ordered(v) => v.iter().map(|s| s.target.as_str()).collect(),
            SrvTargets::Unavailable => vec!["<unavailable>"],
        }
    }

    /// RFC 2782, Priority: "A client MUST attempt to contact the target
    /// host with the lowest-numbered priority it can reach; target hosts
    /// with the same priority SHOULD be tried in an order defined by the
    /// weight field."
    #[test]
    fn rfc2782_priority_lowest_first() {
        let recs = [
            srv(20, 0, "c"),
            srv(10, 1, "b1"),
            srv(0, 0, "a"),
            srv(10, 1, "b2"),
            srv(65535, 0, "z"),
        ];
        // Always draw 0: within a priority the first in the list wins.
        let got = order_srv(&recs, &mut |_| 0);
        assert_eq!(targets(&got), ["a", "b1", "b2", "c", "z"]);
        // Always draw the maximum: the last in the list wins.
        let got = order_srv(&recs, &mut |n| n);
        assert_eq!(targets(&got), ["a", "b2", "b1", "c", "z"]);
    }

    /// RFC 2782 Usage rules: weight-0 records "are placed at the beginning
    /// of the list", so with a draw of 0 they come first, and otherwise
    /// they get only the draws equal to their (zero) running sum.
    #[test]
    fn rfc2782_usage_rules_weight_zero_first_in_the_list() {
        let recs = [srv(0, 10, "heavy"), srv(0, 0, "zero")];
        assert_eq!(targets(&order_srv(&recs, &mut |_| 0)), ["zero", "heavy"]);
        assert_eq!(targets(&order_srv(&recs, &mut |n| n)), ["heavy", "zero"]);
        for r in 1..=10 {
            assert_eq!(targets(&order_srv(&recs, &mut |_| r))[0], "heavy");
        }
    }

    /// RFC 2782 Usage rules, running sums, fed every value of the draw
    /// (0..=sum): a record of weight w owns exactly w values, the values
    /// above the previous running sum up to its own. Value 0 goes to the
    /// first record of the list, here the weight-0 one, so the non-zero
    /// records' counts equal their weights exactly.
    #[test]
    fn rfc2782_usage_rules_weighted_choice_counts_equal_weights() {
        let recs = [
            srv(0, 10, "a"),
            srv(0, 20, "b"),
            srv(0, 0, "zero"),
            srv(0, 70, "c"),
            srv(1, 5, "later"),
        ];
        let sum = 100;
        let mut counts = std::collections::BTreeMap::new();
        for value in 0..=sum {
            let mut first_draw = true;
            let got = order_srv(&recs, &mut |n| {
                if first_draw {
                    first_draw = false;
                    assert_eq!(n, sum, "the first draw spans the priority's whole weight");
                    value
                } else {
                    0
                }
            });
            let first = targets(&got)[0].to_owned();
            *counts.entry(first).or_insert(0u32) += 1;
            assert_eq!(targets(&got).len(), 5);
            assert_eq!(
                *targets(&got).last().unwrap(),
                "later",
                "priority 1 after priority 0"
            );
        }
        assert_eq!(counts["a"], 10);
        assert_eq!(counts["b"], 20);
        assert_eq!(counts["c"], 70);
        assert_eq!(counts["zero"], 1);
        assert_eq!(counts.get("later"), None);

        // Without a weight-0 record, value 0 lands on the first record,
        // which thus owns w + 1 values: the RFC's inclusive range.
        let recs = [srv(0, 1, "x"), srv(0, 3, "y")];
        let mut counts = [0u32; 2];
        for value in 0..=4 {
            let got = order_srv(&recs, &mut |_| value);
            counts[usize::from(targets(&got)[0] == "y")] += 1;
        }
        assert_eq!(counts, [2, 3]);
    }

    /// RFC 2782, Target: 'A Target of "." means that the service is
    /// decidedly not available at this domain.'
    #[test]
    fn rfc2782_target_dot_means_not_available() {
        assert_eq!(
            order_srv(&[srv(0, 0, ".")], &mut |_| 0),
            SrvTargets::Unavailable
        );
        assert_eq!(order_srv(&[], &mut |_| 0), SrvTargets::Ordered(vec![]));
        let mixed = [srv(0, 0, "."), srv(5, 1, "pool01.contoso.com")];
        assert_eq!(
            targets(&order_srv(&mixed, &mut |_| 0)),
            ["pool01.contoso.com"]
        );
    }

    #[test]
    fn out_of_range_draw_is_clamped() {
        let recs = [srv(0, 1, "x"), srv(0, 3, "y")];
        assert_eq!(targets(&order_srv(&recs, &mut |_| u32::MAX)), ["y", "x"]);
    }

    proptest! {
        /// Whatever the draws, the result is a permutation of the usable
        /// records with priorities never decreasing.
        #[test]
        fn ordering_is_a_permutation_by_priority(
            recs in proptest::collection::vec((0u16..4, any::<u16>(), "[a-z]{1,5}"), 0..12),
            seed in any::<u64>(),
        ) {
            let recs: Vec<Srv> = recs.into_iter().map(|(p, w, t)| srv(p, w, &t)).collect();
            let mut state = seed;
            let mut draw = |n: u32| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as u32) % (n.saturating_add(1)).max(1)
            };
            let SrvTargets::Ordered(got) = order_srv(&recs, &mut draw) else {
                return Err(TestCaseError::fail("no '.' targets were generated"));
            };
            prop_assert_eq!(got.len(), recs.len());
            prop_assert!(got.windows(2).all(|w| w[0].priority <= w[1].priority));
            let mut a = got.clone();
            let mut b = recs.clone();
            a.sort_by(|x, y| (x.priority, x.weight, &x.target).cmp(&(y.priority, y.weight, &y.target)));
            b.sort_by(|x, y| (x.priority, x.weight, &x.target).cmp(&(y.priority, y.weight, &y.target)));
            prop_assert_eq!(a, b);
        }
    }
}
