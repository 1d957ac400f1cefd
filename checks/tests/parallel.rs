//! `--jobs` and `--shard` below the CLI: results come back in item order whatever the number
//! of worker threads, an error stops the work in order, and shards partition the work.

use std::time::Duration;

use thp_checks::parallel::{parse_shard, run_ordered, Shard};

#[test]
fn results_come_in_item_order() {
    let items: Vec<u64> = (0..40).collect();
    for jobs in [1, 2, 5, 100] {
        let mut out = Vec::new();
        run_ordered::<_, _, ()>(
            &items,
            jobs,
            |&i| {
                // Later items finish first.
                std::thread::sleep(Duration::from_micros((40 - i) * 50));
                i * 2
            },
            |r| {
                out.push(r);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            out,
            items.iter().map(|i| i * 2).collect::<Vec<_>>(),
            "jobs {jobs}"
        );
    }
}

#[test]
fn an_error_stops_at_its_item() {
    let items: Vec<usize> = (0..30).collect();
    for jobs in [1, 3] {
        let mut out = Vec::new();
        let r = run_ordered(
            &items,
            jobs,
            |&i| i,
            |i| {
                if i == 5 {
                    return Err(format!("item {i}"));
                }
                out.push(i);
                Ok(())
            },
        );
        assert_eq!(r, Err("item 5".to_string()), "jobs {jobs}");
        assert_eq!(out, vec![0, 1, 2, 3, 4], "jobs {jobs}");
    }
}

#[test]
fn shards_parse_and_partition() {
    assert_eq!(parse_shard("2/3"), Ok(Shard { index: 2, count: 3 }));
    assert_eq!(parse_shard("1/1"), Ok(Shard { index: 1, count: 1 }));
    for bad in ["3/2", "0/2", "a/b", "1/0", "1", "/", "1/2/3", "-1/2", ""] {
        assert!(parse_shard(bad).is_err(), "{bad}");
    }
    let items: Vec<usize> = (0..10).collect();
    assert_eq!(Shard::select(None, &items), items);
    assert_eq!(
        Shard::select(Some(Shard { index: 2, count: 3 }), &items),
        vec![1, 4, 7]
    );
    let mut all: Vec<usize> = (1..=3)
        .flat_map(|index| Shard::select(Some(Shard { index, count: 3 }), &items))
        .collect();
    all.sort_unstable();
    assert_eq!(all, items);
}
