//! FaceDetection, SmartThumbnail, the opencv alias and bad images, against the real
//! binary over HTTP, on the photos in fixtures/images.

mod common;

use axum::http::StatusCode;
use base64::Engine;
use common::{Origin, Server, binary_result, error_message, faces_json, fixture, iou};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).expect("the thumbnail decodes");
    (image.width(), image.height())
}

/// The expected face boxes of a fixture, from faces.json.
fn expected_faces(name: &str) -> Vec<Value> {
    let all = faces_json();
    let entry = &all[name];
    let faces = entry.get("faces").unwrap_or(entry);
    faces
        .as_array()
        .unwrap_or_else(|| panic!("faces.json has no faces for {name}: {all}"))
        .clone()
}

async fn detect(server: &Server, bytes: Vec<u8>) -> Value {
    let (status, reply) = server
        .call_bytes("/v1/algo/blueprints/FaceDetection/1.0.0", bytes)
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["metadata"]["content_type"], "json", "{reply}");
    reply["result"].clone()
}

#[tokio::test]
async fn finds_the_astronauts_face() {
    let server = Server::start(&[]);
    let result = detect(&server, fixture("astronaut.jpg")).await;
    let expected = &expected_faces("astronaut.jpg")[0];
    let found = result["faces"].as_array().expect("faces");
    let best = found
        .iter()
        .map(|face| iou(face, expected))
        .fold(0.0, f64::max);
    assert!(
        best >= 0.5,
        "best IoU {best:.2}; found {found:?}, expected {expected}"
    );
    assert!(result["width"].as_u64().is_some() && result["height"].as_u64().is_some());
}

/// GIF (first frame), BMP and TIFF, the other suffixes the s3-thumbnail blueprint
/// takes, decode like the JPEG they were made from.
#[tokio::test]
async fn gif_bmp_and_tiff_uploads_are_read_too() {
    let server = Server::start(&[]);
    let jpeg = fixture("astronaut.jpg");
    let picture = image::load_from_memory(&jpeg).expect("fixture decodes");
    let expected = &expected_faces("astronaut.jpg")[0];
    for format in [
        image::ImageFormat::Gif,
        image::ImageFormat::Bmp,
        image::ImageFormat::Tiff,
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        picture
            .to_rgba8()
            .write_to(&mut bytes, format)
            .expect("encodes");
        let bytes = bytes.into_inner();
        let result = detect(&server, bytes.clone()).await;
        let found = result["faces"].as_array().expect("faces");
        let best = found
            .iter()
            .map(|face| iou(face, expected))
            .fold(0.0, f64::max);
        assert!(best >= 0.5, "{format:?}: best IoU {best:.2}");
        let (status, reply) = server
            .call_bytes(
                "/v1/algo/blueprints/SmartThumbnail?width=64&height=48",
                bytes,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{format:?}: {reply}");
        assert_eq!(dimensions(&binary_result(&reply)), (64, 48), "{format:?}");
    }
}

#[tokio::test]
async fn finds_every_face_in_the_group_photo() {
    let server = Server::start(&[]);
    let name = "group.jpg";
    let result = detect(&server, fixture(name)).await;
    let found = result["faces"].as_array().expect("faces").clone();
    for expected in expected_faces(name) {
        let best = found
            .iter()
            .map(|face| iou(face, &expected))
            .fold(0.0, f64::max);
        assert!(
            best >= 0.4,
            "face {expected} matched at IoU {best:.2}; found {found:?}"
        );
    }
}

#[tokio::test]
async fn reads_images_from_urls_of_allowed_hosts() {
    let origin = Origin::start().await;
    let server = Server::start(&["--allow-fetch-host", "127.0.0.1"]);
    let url = origin.url("/images/astronaut.jpg");
    for input in [json!({ "image": url }), json!(url)] {
        let (status, reply) = server
            .call_json("/v1/algo/blueprints/FaceDetection", &input)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !reply["result"]["faces"]
                .as_array()
                .expect("faces, {reply}")
                .is_empty(),
            "{reply}"
        );
    }
}

#[tokio::test]
async fn a_thumbnail_of_a_wide_photo_keeps_the_face_near_its_edge() {
    let server = Server::start(&[]);
    let name = "wide.jpg";
    let (status, reply) = server
        .call_json(
            "/v1/algo/blueprints/SmartThumbnail/1.0.0",
            &json!({"image": b64(&fixture(name)), "width": 400, "height": 400, "format": "png"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let thumbnail = binary_result(&reply);
    assert_eq!(dimensions(&thumbnail), (400, 400));
    // The face is whole in the thumbnail: the detector finds it clear of the borders.
    let faces = detect(&server, thumbnail).await["faces"]
        .as_array()
        .expect("faces")
        .clone();
    let face = faces
        .first()
        .unwrap_or_else(|| panic!("no face in the thumbnail of {name}"));
    let (x, y, w, h) = (
        face["x"].as_f64().expect("x"),
        face["y"].as_f64().expect("y"),
        face["width"].as_f64().expect("w"),
        face["height"].as_f64().expect("h"),
    );
    assert!(
        x > 0.0 && y > 0.0 && x + w < 400.0 && y + h < 400.0,
        "face cut: {face}"
    );
}

#[tokio::test]
async fn thumbnails_have_the_asked_size_and_format_and_never_upscale() {
    let server = Server::start(&[]);
    let astronaut = b64(&fixture("astronaut.jpg"));
    for (format, magic) in [
        ("jpeg", &b"\xff\xd8"[..]),
        ("png", b"\x89PNG"),
        ("webp", b"RIFF"),
    ] {
        let (_, reply) = server
            .call_json(
                "/v1/algo/blueprints/SmartThumbnail",
                &json!({"image": astronaut, "width": 120, "height": 90, "format": format}),
            )
            .await;
        let bytes = binary_result(&reply);
        assert!(bytes.starts_with(magic), "{format}");
        assert_eq!(dimensions(&bytes), (120, 90), "{format}");
    }
    // The astronaut is 512 x 512: a 2048 x 1024 request gets the 512 x 256 window as is.
    let (_, reply) = server
        .call_json(
            "/v1/algo/blueprints/SmartThumbnail",
            &json!({"image": astronaut, "width": 2048, "height": 1024}),
        )
        .await;
    assert_eq!(dimensions(&binary_result(&reply)), (512, 256));
    // Raw bytes take their size from the query.
    let (_, reply) = server
        .call_bytes(
            "/v1/algo/blueprints/SmartThumbnail?width=64&height=64&format=png",
            fixture("astronaut.jpg"),
        )
        .await;
    assert_eq!(dimensions(&binary_result(&reply)), (64, 64));
}

#[tokio::test]
async fn the_opencv_alias_answers_the_original_blueprints_call() {
    let origin = Origin::start().await;
    let server = Server::start(&["--allow-fetch-host", "127.0.0.1"]);
    let input = json!([origin.url("/images/astronaut.jpg"), 200, 50]);
    for path in [
        "/v1/algo/opencv/SmartThumbnail",
        "/v1/algo/opencv/SmartThumbnail/0.1.*",
    ] {
        let (status, reply) = server.call_json(path, &input).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let png = binary_result(&reply);
        assert!(png.starts_with(b"\x89PNG"));
        assert_eq!(dimensions(&png), (200, 50));
    }
}

/// A PNG whose header claims 100000 x 100000 pixels, with valid CRCs.
fn png_bomb() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
        out
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn bad_images_get_an_error_that_names_the_problem() {
    let server = Server::start(&[]);
    let jpeg = fixture("astronaut.jpg");
    let truncated = jpeg[..jpeg.len() / 3].to_vec();
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not an image", b"hello, world".to_vec(), "not an image"),
        ("truncated JPEG", truncated, "JPEG"),
        ("GIF", gif, "GIF"),
        ("decompression bomb", png_bomb(), "--max-image-pixels"),
    ];
    for path in [
        "/v1/algo/blueprints/FaceDetection",
        "/v1/algo/blueprints/SmartThumbnail?width=10&height=10",
    ] {
        for (label, bytes, says) in &cases {
            let (status, reply) = server.call_bytes(path, bytes.clone()).await;
            assert_eq!(status, StatusCode::OK, "{label}");
            let message = error_message(&reply);
            assert!(message.contains(says), "{path} {label}: {message}");
            assert!(message.contains("input"), "{path} {label}: {message}");
        }
    }
    let astronaut = b64(&jpeg);
    for (width, says) in [
        (json!(0), "`width`"),
        (json!(100_000), "`width`"),
        (json!("wide"), "`width`"),
    ] {
        let (_, reply) = server
            .call_json(
                "/v1/algo/blueprints/SmartThumbnail",
                &json!({"image": astronaut, "width": width, "height": 10}),
            )
            .await;
        assert!(error_message(&reply).contains(says), "{width}: {reply}");
    }
    let (_, reply) = server
        .call_json(
            "/v1/algo/blueprints/SmartThumbnail",
            &json!({"image": astronaut, "width": 10, "height": 10, "format": "gif"}),
        )
        .await;
    assert!(error_message(&reply).contains("`format`"), "{reply}");
    for (image, says) in [
        (None, "input field `image` is missing"),
        (Some(json!(42)), "input field `image` must be a string"),
    ] {
        let mut input = json!({"width": 10, "height": 10});
        if let Some(image) = image {
            input["image"] = image;
        }
        let (_, reply) = server
            .call_json("/v1/algo/blueprints/SmartThumbnail", &input)
            .await;
        assert!(error_message(&reply).contains(says), "{reply}");
    }
    // Still healthy, still working.
    assert_eq!(server.in_flight().await, 0);
    let result = detect(&server, jpeg).await;
    assert!(!result["faces"].as_array().expect("faces").is_empty());
}

#[tokio::test]
async fn the_pixel_limit_is_configurable() {
    let server = Server::start(&["--max-image-pixels", "10000"]);
    let (_, reply) = server
        .call_bytes(
            "/v1/algo/blueprints/FaceDetection",
            fixture("astronaut.jpg"),
        )
        .await;
    let message = error_message(&reply);
    assert!(
        message.contains("--max-image-pixels") && message.contains("10000"),
        "{message}"
    );
}

#[tokio::test]
async fn url_inputs_refuse_metadata_private_and_loopback_addresses() {
    let origin = Origin::start().await;
    let open = origin.url("/images/astronaut.jpg");
    let strict = Server::start(&[]);
    let localhost = open.replace("127.0.0.1", "localhost");
    for (url, says) in [
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "link-local",
        ),
        ("http://[fe80::1]/x.jpg".to_owned(), "link-local"),
        (
            "http://10.0.0.7/x.jpg".to_owned(),
            "--allow-fetch-host 10.0.0.7",
        ),
        ("http://192.168.1.1/x.jpg".to_owned(), "private"),
        (open.clone(), "--allow-fetch-host 127.0.0.1"),
        // A name that resolves to loopback is caught when it resolves.
        (localhost, "loopback"),
        ("file:///etc/passwd".to_owned(), "file://"),
    ] {
        let (status, reply) = strict
            .call_json(
                "/v1/algo/blueprints/FaceDetection",
                &json!({ "image": url }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let message = error_message(&reply);
        assert!(message.contains(says), "{url}: {message}");
        assert!(message.contains("`image`"), "{url}: {message}");
    }

    // Allowing the origin does not allow what it redirects to.
    let allowing = Server::start(&["--allow-fetch-host", "127.0.0.1"]);
    for (target, says) in [
        ("http://169.254.169.254/latest/meta-data/iam/", "link-local"),
        ("http://10.1.2.3/secret", "private"),
    ] {
        let url = origin.url(&format!("/redirect?to={target}"));
        let (_, reply) = allowing
            .call_json(
                "/v1/algo/blueprints/FaceDetection",
                &json!({ "image": url }),
            )
            .await;
        let message = error_message(&reply);
        assert!(message.contains(says), "redirect to {target}: {message}");
    }
    let redirected = origin.url(&format!("/redirect?to={open}"));
    let (_, reply) = allowing
        .call_json(
            "/v1/algo/blueprints/FaceDetection",
            &json!({ "image": redirected }),
        )
        .await;
    assert!(reply["result"]["faces"].is_array(), "{reply}");
}

#[tokio::test]
async fn fetches_are_size_capped() {
    let origin = Origin::start().await;
    let server = Server::start(&[
        "--allow-fetch-host",
        "127.0.0.1",
        "--fetch-max-bytes",
        "1000",
    ]);
    let (_, reply) = server
        .call_json(
            "/v1/algo/blueprints/FaceDetection",
            &json!({"image": origin.url("/images/astronaut.jpg")}),
        )
        .await;
    assert!(
        error_message(&reply).contains("--fetch-max-bytes"),
        "{reply}"
    );
}
