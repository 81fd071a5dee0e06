-- 0004_attempt_facts.sql - where each attempt really ran.
--
-- What the executor saw of an attempt's container, recorded when it
-- starts running and again when it ends (a value once known is kept):
--   image_id     the image the container ran, as the runtime reports it
--                (Kubernetes containerStatuses[].imageID, a digest:
--                "ghcr.io/acme/train@sha256:..."), so that lineage names
--                the exact bytes even when the pipeline named a tag
--   gpu_product  the node's nvidia.com/gpu.product label for a stage that
--                asked for an NVIDIA GPU ("NVIDIA-H100-80GB-HBM3")
-- The node itself is stage_attempts.node_name (0001).  All three stay NULL
-- when not known (the local executor has no image; a cluster that does
-- not let the controller read nodes gives no GPU product).

ALTER TABLE stage_attempts
    ADD COLUMN image_id text CHECK (image_id <> '' AND length(image_id) <= 512),
    ADD COLUMN gpu_product text
        CHECK (gpu_product <> '' AND length(gpu_product) <= 128);

ALTER TABLE stage_attempts
    ADD CONSTRAINT stage_attempts_node_name_length
        CHECK (node_name <> '' AND length(node_name) <= 253);
