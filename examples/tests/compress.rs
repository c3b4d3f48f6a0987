//! A short run of `mnist_compress`'s library function for CI: pruning reaches the
//! sparsity asked for and keeps the model well above chance after fine-tuning, the sparse
//! weight file reads back to exactly the dense one, the distilled and the lone student
//! both learn, and the shrunk student is the size structured pruning promised.

use lamina::nn::weights::load_tensors;
use lamina::prelude::*;
use lamina_examples::compress::{densify, run_compress, CompressConfig};
use lamina_examples::realdata::Result;

#[test]
fn a_quick_compression_run() -> Result<()> {
    let out = std::env::temp_dir().join(format!("lamina-compress-{}", std::process::id()));
    let cfg = CompressConfig {
        limit: Some(2000),
        test_limit: Some(500),
        teacher_epochs: 1,
        sparsities: vec![0.5, 0.9],
        finetune_epochs: 1,
        student_epochs: 1,
        seeds: vec![0],
        out_dir: out.clone(),
        verbose: false,
        timing_seconds: 0.0,
        ..CompressConfig::default()
    };
    let dev = Device::cpu();
    let r = run_compress(&cfg, &dev)?;
    eprintln!("{}", lamina_examples::compress::table(&r.rows));
    // Teacher, two pruned CNNs, two students, the shrunk student, two int8 CNNs.
    assert_eq!(r.rows.len(), 8);
    let sparsities: Vec<f64> = r.pruned.iter().map(|p| p.0).collect();
    assert!((sparsities[0] - 0.5).abs() < 1e-4 && (sparsities[1] - 0.9).abs() < 1e-4);
    for row in &r.rows {
        // Chance is 0.1.
        assert!(row.accuracy > 0.5, "{row:?}");
        assert!(row.images_per_s > 0.0, "{row:?}");
    }
    let (_, alone, taught) = r.students[0];
    assert!(alone > 0.5 && taught > 0.5, "{:?}", r.students);
    // 90 %: the sparse file is well under a third of the dense one and reads back exactly.
    let pruned = &r.rows[2];
    assert!(3 * pruned.compact_bytes.unwrap_or(u64::MAX) < pruned.dense_bytes);
    let dense = load_tensors(out.join("cnn_pruned90.safetensors"), &dev)?;
    let mut back = densify(&out.join("cnn_pruned90_sparse.safetensors"), &dev)?;
    back.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dense = dense;
    dense.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back.len(), dense.len());
    for ((n, a), (m, b)) in back.iter().zip(&dense) {
        assert_eq!(n, m);
        assert_eq!(a.to_f64_vec()?, b.to_f64_vec()?, "{n}");
    }
    // 784-64-10 with half its hidden neurons removed.
    assert_eq!(r.rows[5].params, 784 * 32 + 32 + 32 * 10 + 10);
    // int8: the teacher's file at least 3.5x smaller, its accuracy within two points.
    let (teacher, int8) = (&r.rows[0], &r.rows[6]);
    assert!(int8.compact_bytes.unwrap_or(u64::MAX) as f64 * 3.5 <= int8.dense_bytes as f64);
    assert!((int8.accuracy - teacher.accuracy).abs() <= 0.02, "{int8:?}");
    assert!(r.rows[7].accuracy > 0.5, "{:?}", r.rows[7]);
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
