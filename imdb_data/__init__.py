"""IMDb's data as the pipeline and the tools read it: the official layout's files
(`official`: the readers the clean stage, batch scoring and the accuracy report share) and the
table of movies the clean stage makes of them (`movies`)."""
