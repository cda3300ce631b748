"""stLearn 1.2.2 stSME clustering at the defaults of its DLPFC tutorial (stLearn docs, "stSME
clustering tutorial", 151673): filter_genes(min_cells=1), normalize_total, log1p, PCA 15, image
tiles + ResNet50 morphology features, ``SME_normalize(use_data="raw")`` (weights: space,
morphology and expression), scale, PCA 30, k-means with K clusters on the PCA.

The tutorial tiles the hires image (crop 40 px); these sections have only the lowres image, so
the crop is scaled to it (40 x lowres/hires scale factor). ``extract_feature`` loads Keras
ResNet50 weights from the internet at run time, so this runner fails on an offline machine;
``run_stlearn_noimage.py`` runs the same pipeline without the image. The run's seed is the
seed of the morphology PCA and of k-means.
"""

from __future__ import annotations

import tempfile

from _runner import main


def stsme(adata, n_domains: int, seed: int, use_image: bool) -> list:
    """stSME clustering; without the image, SME weights are space x expression ("pd_gd")."""
    import stlearn as st

    library = next(iter(adata.uns["spatial"]))
    factors = adata.uns["spatial"][library]["scalefactors"]
    data = st.convert_scanpy(adata, use_quality="lowres")
    st.pp.filter_genes(data, min_cells=1)
    st.pp.normalize_total(data)
    st.pp.log1p(data)
    st.em.run_pca(data, n_comps=15, random_state=seed)
    if use_image:
        crop = round(40 * factors["tissue_lowres_scalef"] / factors["tissue_hires_scalef"])
        with tempfile.TemporaryDirectory() as tiles:
            st.pp.tiling(data, tiles, crop_size=crop)
            st.pp.extract_feature(data, seeds=seed)
        st.spatial.SME.SME_normalize(data, use_data="raw")
    else:
        # SME's weight_matrix computes the morphology similarity whatever the weights; the
        # "pd_gd" weights never use it, so the expression PCA stands in for the features.
        data.obsm["X_morphology"] = data.obsm["X_pca"]
        st.spatial.SME.SME_normalize(data, use_data="raw", weights="weights_matrix_pd_gd")
    smoothed = data.copy()
    smoothed.X = smoothed.obsm["raw_SME_normalized"]
    st.pp.scale(smoothed)
    st.em.run_pca(smoothed, n_comps=30, random_state=seed)
    st.tl.clustering.kmeans(
        smoothed, n_clusters=n_domains, use_data="X_pca", key_added="kmeans", random_state=seed
    )
    return smoothed.obs["kmeans"].tolist()


def cluster(adata, n_domains: int, seed: int) -> list:
    return stsme(adata, n_domains, seed, use_image=True)


if __name__ == "__main__":
    main(cluster)
