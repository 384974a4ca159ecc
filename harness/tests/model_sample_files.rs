//! Every sample model's `samples.json` loads and describes what the checks rely on.

use harness::v2::SampleSet;
use oip::TensorData;
use std::path::PathBuf;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models")
}

#[test]
fn every_sample_file_loads() {
    let mut found = 0;
    for entry in std::fs::read_dir(models_dir()).unwrap() {
        let path = entry.unwrap().path().join("samples.json");
        if path.is_file() {
            let set = SampleSet::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!set.samples.is_empty(), "{}", path.display());
            found += 1;
        }
    }
    assert!(
        found >= 3,
        "expected credit-risk, loan-decision and mnist-pytorch sample files, found {found}"
    );
}

#[test]
fn mnist_digit_is_a_28x28_image_in_unit_range_expecting_class_one() {
    let set = SampleSet::load(&models_dir().join("mnist-pytorch/samples.json")).unwrap();
    assert_eq!(set.model, "mnist-pytorch");
    let sample = &set.samples[0];
    let x = &sample.inputs[0];
    assert_eq!(
        (x.name.as_str(), x.datatype.as_str(), x.shape.as_slice()),
        ("x__0", "FP32", &[1, 1, 28, 28][..])
    );
    let TensorData::F32(pixels) = &x.data else {
        panic!("FP32 pixels")
    };
    assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    // A stroke, not a blank or saturated image.
    let lit = pixels.iter().filter(|&&p| p > 0.5).count();
    assert!((40..200).contains(&lit), "{lit} bright pixels");
    let argmax = sample
        .expected_argmax
        .as_ref()
        .expect("mnist checks the class");
    assert_eq!((argmax.output.as_str(), argmax.index), ("y__0", 1));
}
