//! `summary` against counts worked out by hand and the mode it must leave the model in.

use lamina_nn::{
    summary, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Relu, Sequential,
};

fn model(dev: &lamina_tensor::Device) -> Sequential {
    Sequential::new()
        .add(Conv2d::builder(1, 8, 3).padding(1).build(dev).unwrap())
        .add(BatchNorm2d::new(8, dev).unwrap())
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::default())
        .add(Dropout::new(0.5).unwrap())
        .add(Linear::new(8 * 14 * 14, 10, dev).unwrap())
}

#[test]
fn shapes_and_counts_match_the_hand_count() {
    let dev = lamina_backend_cpu::device();
    let mut m = model(&dev);
    let s = summary(&mut m, &[2, 1, 28, 28], &dev).unwrap();
    let shapes: Vec<Vec<usize>> = s.rows.iter().map(|r| r.output.dims().to_vec()).collect();
    assert_eq!(
        shapes,
        vec![
            vec![2, 8, 28, 28],
            vec![2, 8, 28, 28],
            vec![2, 8, 28, 28],
            vec![2, 8, 14, 14],
            vec![2, 1568],
            vec![2, 1568],
            vec![2, 10],
        ]
    );
    let params: Vec<usize> = s.rows.iter().map(|r| r.params).collect();
    assert_eq!(params, vec![8 * 9 + 8, 16, 0, 0, 0, 0, 1568 * 10 + 10]);
    assert_eq!(s.params, 80 + 16 + 15_690);
    // running_mean, running_var (8 each) and num_batches_tracked.
    assert_eq!(s.buffers, 17);

    let text = s.to_string();
    assert!(text.contains("Total params: 15,786"), "{text}");
    assert!(text.contains("Buffers (not trained): 17"), "{text}");
    // Every row's shape column starts at the same place, after at least two spaces.
    let col = text.lines().next().unwrap().find("Output shape").unwrap();
    for line in text.lines().filter(|l| l.contains('[')) {
        assert_eq!(&line[col..col + 1], "[", "misaligned: {line:?}\n{text}");
        assert_eq!(&line[col - 2..col], "  ", "no gap: {line:?}\n{text}");
    }
}

#[test]
fn leaves_the_mode_and_the_running_statistics_alone() {
    let dev = lamina_backend_cpu::device();
    let mut m = model(&dev);
    // Values, not tensors: the running statistics are updated in place.
    let values = |m: &Sequential| -> Vec<(String, Vec<f64>)> {
        m.state_dict()
            .into_iter()
            .map(|(n, t)| (n, t.to_f64_vec().unwrap()))
            .collect()
    };
    let before = values(&m);
    summary(&mut m, &[1, 1, 28, 28], &dev).unwrap();
    assert_eq!(m.training_mode(), Some(true));
    assert_eq!(values(&m), before);
    m.eval();
    summary(&mut m, &[1, 1, 28, 28], &dev).unwrap();
    assert_eq!(m.training_mode(), Some(false));
}

#[test]
fn a_shape_the_model_cannot_take_names_the_layer() {
    let dev = lamina_backend_cpu::device();
    let mut m = model(&dev);
    let err = summary(&mut m, &[1, 1, 20, 20], &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer 6") && err.contains("Linear"), "{err}");
}
