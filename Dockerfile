# A worker image for `gradcam beam` on runners whose workers share nothing with the driver
# (Dataflow, Flink, Spark): the package, its Beam/S3/Dask extras and Beam's SDK harness.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/gradcam-beam:0 .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/gradcam-beam:0
#   gradcam beam gs://BUCKET/photos --out gs://BUCKET/out --runner dataflow \
#     --project PROJECT --region REGION --temp_location gs://BUCKET/tmp \
#     --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/gradcam-beam:0 \
#     --sdk_location container
#
# The Python and Beam versions must equal the driver's (Beam checks this when a job starts).
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/gradcam
COPY requirements.txt pyproject.toml README.md ./
COPY gradcam ./gradcam
COPY nets ./nets
# The exact pins, then the package itself without resolving again; the Dataflow filesystem
# (gs://) comes with Beam's gcp extra.
RUN pip install --no-cache-dir -r requirements.txt "apache-beam[gcp]==2.77.0" \
 && pip install --no-cache-dir --no-deps . \
 && python -c "import gradcam.beam_pipeline"

# Beam's harness stays the entry point of the base image.
