import pytest

from equigen.experiments import Claim, Result


def test_result_records_claims_with_section_and_serialises_them():
    result = Result("demo", {}, 0)
    claim = result.add_claim("built-in beats twin", "force RMSE (eV/A)", 0.2, {"mlp": 1.1}, "reproduced")
    assert isinstance(claim, Claim) and claim.section == "demo"
    assert result.to_dict()["claims"][0]["twins"] == {"mlp": 1.1}


@pytest.mark.parametrize("kwargs", [{"verdict": "maybe"}, {"verdict": "reproduced", "better": "smaller"}])
def test_claim_rejects_unknown_verdict_and_direction(kwargs):
    with pytest.raises(ValueError, match="verdict|better"):
        Claim("s", "m", 1.0, {}, **kwargs)
