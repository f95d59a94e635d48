"""The "DS replication" page of the Airflow UI: what each slave's runs did, from the metadata DB.

run_records reads runs, task states and XComs; run_figures turns one run into the page's
figures; night_chart and page_html render them; web_app serves them behind Airflow's sign-in.
The AirflowPlugin that mounts it is plugins/ds_replication_plugin.py.
"""
