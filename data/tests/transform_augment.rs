//! Image augmentation against naive index-arithmetic references that replay the
//! documented draws, hand-worked shifts, noise moments and seed reproducibility.

use lamina_data::transform::{
    Augment, Compose, GaussianNoise, RandomCrop, RandomHorizontalFlip, RandomShift,
};
use lamina_data::{Error, Rng};
use lamina_tensor::{DType, Tensor};

fn batch(dims: [usize; 4], seed: u64) -> Tensor {
    // Distinct non-zero values, so a misplaced pixel or a stray zero shows.
    Tensor::rand_uniform(
        seed,
        1.0,
        2.0,
        dims,
        DType::F32,
        &lamina_backend_cpu::device(),
    )
    .unwrap()
}

/// Zero-pads by `p`, then crops `oh x ow` at `(dy, dx)` of the padded image, per sample.
fn naive_crop(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    p: usize,
    (oh, ow): (usize, usize),
    offs: &[(usize, usize)],
) -> Vec<f32> {
    let (ph, pw) = (h + 2 * p, w + 2 * p);
    let mut out = Vec::new();
    for s in 0..n {
        for ch in 0..c {
            let mut padded = vec![0.0f32; ph * pw];
            for i in 0..h {
                for j in 0..w {
                    padded[(i + p) * pw + (j + p)] = x[((s * c + ch) * h + i) * w + j];
                }
            }
            let (dy, dx) = offs[s];
            for i in 0..oh {
                for j in 0..ow {
                    out.push(padded[(dy + i) * pw + (dx + j)]);
                }
            }
        }
    }
    out
}

#[test]
fn random_crop_matches_naive_reference() {
    let dims = [5, 3, 7, 6];
    let x = batch(dims, 1);
    let xs = x.to_vec::<f32>().unwrap();
    for (crop, p, (oh, ow)) in [
        (RandomCrop::new((5, 4), 2), 2, (5, 4)),
        (RandomCrop::padded(3), 3, (7, 6)),
        (RandomCrop::new((9, 8), 1), 1, (9, 8)),
    ] {
        let mut rng = Rng::new(42);
        let y = crop.apply(&x, &mut rng).unwrap();
        assert_eq!(y.dims(), [5, 3, oh, ow]);
        // Replay the documented draws: per sample, dy then dx over the padded image.
        let mut replay = Rng::new(42);
        let offs: Vec<(usize, usize)> = (0..5)
            .map(|_| {
                let dy = replay.below(7 + 2 * p - oh + 1);
                let dx = replay.below(6 + 2 * p - ow + 1);
                (dy, dx)
            })
            .collect();
        assert_eq!(rng, replay, "draw count");
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            naive_crop(&xs, dims, p, (oh, ow), &offs)
        );
    }
    // No padding, full size: the identity.
    let y = RandomCrop::padded(0).apply(&x, &mut Rng::new(0)).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), xs);
}

#[test]
fn flip_reverses_rows_and_twice_is_identity() {
    let dims = [3, 2, 4, 5];
    let x = batch(dims, 2);
    let xs = x.to_vec::<f32>().unwrap();
    let always = RandomHorizontalFlip::new(1.0);
    let y = always
        .apply(&x, &mut Rng::new(0))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    for row in 0..3 * 2 * 4 {
        for j in 0..5 {
            assert_eq!(y[row * 5 + j], xs[row * 5 + (4 - j)]);
        }
    }
    let twice = always
        .apply(
            &always.apply(&x, &mut Rng::new(0)).unwrap(),
            &mut Rng::new(9),
        )
        .unwrap();
    assert_eq!(twice.to_vec::<f32>().unwrap(), xs);
    let never = RandomHorizontalFlip::new(0.0)
        .apply(&x, &mut Rng::new(0))
        .unwrap();
    assert_eq!(never.to_vec::<f32>().unwrap(), xs);

    // p = 0.5: each sample is either itself or its mirror, about half of them mirrored.
    let dims = [400, 1, 2, 3];
    let x = batch(dims, 3);
    let xs = x.to_vec::<f32>().unwrap();
    let y = RandomHorizontalFlip::new(0.5)
        .apply(&x, &mut Rng::new(5))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut flipped = 0;
    for s in 0..400 {
        let (a, b) = (&xs[s * 6..s * 6 + 6], &y[s * 6..s * 6 + 6]);
        let mirror = [a[2], a[1], a[0], a[5], a[4], a[3]];
        if b == mirror {
            flipped += 1;
        } else {
            assert_eq!(a, b, "sample {s}");
        }
    }
    // Binomial(400, 0.5): mean 200, sd 10.
    assert!((150..=250).contains(&flipped), "{flipped}");
}

#[test]
fn shift_by_hand() {
    // One 3x3 image 1..9, horizontal shifts only: the three possible outputs, by hand.
    let dev = lamina_backend_cpu::device();
    let img: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let x = Tensor::from_vec(img.repeat(60), [60, 1, 3, 3], &dev).unwrap();
    let left = [2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 8.0, 9.0, 0.0];
    let right = [0.0, 1.0, 2.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0];
    let y = RandomShift::new(1, 0)
        .apply(&x, &mut Rng::new(11))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut seen = [0; 3];
    for s in y.chunks(9) {
        let k = [&left[..], &img[..], &right[..]]
            .iter()
            .position(|c| *c == s)
            .expect("a shifted image");
        seen[k] += 1;
    }
    assert!(seen.iter().all(|&c| c > 0), "{seen:?}");

    // Vertical: down by one moves row 0 to row 1 and zero-fills row 0.
    let down = [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let up = [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 0.0, 0.0, 0.0];
    let y = RandomShift::new(0, 1)
        .apply(&x, &mut Rng::new(12))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut seen = [0; 3];
    for s in y.chunks(9) {
        let k = [&up[..], &img[..], &down[..]]
            .iter()
            .position(|c| *c == s)
            .expect("a shifted image");
        seen[k] += 1;
    }
    assert!(seen.iter().all(|&c| c > 0), "{seen:?}");
}

#[test]
fn shift_matches_naive_reference() {
    let dims = [6, 2, 5, 7];
    let x = batch(dims, 4);
    let xs = x.to_vec::<f32>().unwrap();
    let y = RandomShift::new(3, 2)
        .apply(&x, &mut Rng::new(8))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut replay = Rng::new(8);
    let mut want = Vec::new();
    for s in 0..6 {
        let dy = replay.below(5) as isize - 2;
        let dx = replay.below(7) as isize - 3;
        for c in 0..2 {
            for i in 0..5isize {
                for j in 0..7isize {
                    let (si, sj) = (i - dy, j - dx);
                    let inside = (0..5).contains(&si) && (0..7).contains(&sj);
                    want.push(if inside {
                        xs[((s * 2 + c) * 5 + si as usize) * 7 + sj as usize]
                    } else {
                        0.0
                    });
                }
            }
        }
    }
    assert_eq!(y, want);
}

#[test]
fn noise_moments() {
    let dev = lamina_backend_cpu::device();
    let x = Tensor::full(3.0, [4, 1, 50, 50], DType::F64, &dev).unwrap();
    let y = GaussianNoise::new(0.5)
        .apply(&x, &mut Rng::new(21))
        .unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let v = y.to_vec::<f64>().unwrap();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
    // 10,000 draws: standard error of the mean 0.005, of the std about 0.0035.
    assert!((mean - 3.0).abs() < 0.02, "mean {mean}");
    assert!((std - 0.5).abs() < 0.02, "std {std}");
    let zero = GaussianNoise::new(0.0)
        .apply(&x, &mut Rng::new(21))
        .unwrap();
    assert_eq!(zero.to_vec::<f64>().unwrap(), x.to_vec::<f64>().unwrap());
}

#[test]
fn same_seed_same_batch() {
    let x = batch([8, 1, 28, 28], 5);
    let aug = Compose::new(vec![
        Box::new(RandomCrop::padded(2)),
        Box::new(RandomHorizontalFlip::new(0.5)),
        Box::new(RandomShift::new(2, 2)),
        Box::new(GaussianNoise::new(0.1)),
    ]);
    let a = aug
        .apply(&x, &mut Rng::new(1))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let b = aug
        .apply(&x, &mut Rng::new(1))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let c = aug
        .apply(&x, &mut Rng::new(2))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Compose is the steps in order on one stream.
    let mut rng = Rng::new(1);
    let mut y = x.clone();
    for step in &aug.steps {
        y = step.apply(&y, &mut rng).unwrap();
    }
    assert_eq!(y.to_vec::<f32>().unwrap(), a);
}

#[test]
fn bad_batches_are_errors() {
    let dev = lamina_backend_cpu::device();
    let flat = Tensor::zeros([2, 784], DType::F32, &dev).unwrap();
    let err = RandomCrop::padded(2)
        .apply(&flat, &mut Rng::new(0))
        .unwrap_err();
    assert!(matches!(err, Error::Transform { .. }));
    assert!(err.to_string().contains("[N, C, H, W]"), "{err}");
    let ints = Tensor::zeros([1, 1, 2, 2], DType::I64, &dev).unwrap();
    assert!(GaussianNoise::new(1.0)
        .apply(&ints, &mut Rng::new(0))
        .unwrap_err()
        .to_string()
        .contains("float"));
    let x = batch([1, 1, 4, 4], 0);
    let msg = RandomCrop::new((9, 4), 2)
        .apply(&x, &mut Rng::new(0))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("cannot crop 9x4") && msg.contains("8x8"),
        "{msg}"
    );
    assert!(RandomHorizontalFlip::new(1.5)
        .apply(&x, &mut Rng::new(0))
        .is_err());
    assert!(GaussianNoise::new(-1.0)
        .apply(&x, &mut Rng::new(0))
        .is_err());
}
