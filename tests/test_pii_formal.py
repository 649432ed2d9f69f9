"""PII on formal documents (issue 19): contract prose, signature blocks, e-mail addresses written out.

No contract corpus ships in a registry package we could find (CUAD, ContractNLI, LEDGAR, LexGLUE: none;
``lexnlp`` 2.3.0 and ``contract-nli`` 1.0.7 carry models and word lists, no contract text), so these are
SYNTHETIC sentences written for this test, in the style of US commercial agreements. Four sets:

- ``DEV_*``: the sentences the rules in ``skills/pii/formal.py`` were written against;
- ``CHECK_*``: written afterwards from other agreement types; its first run showed bare roles ("pay to
  Landlord") and heading lines ("LANDLORD:") the rules then learnt, so it is no longer a blind check;
- ``HELD_OUT_*``: written after those, run for the figures; its three failures (a lone capitalised word in
  mid-sentence, "withhold Retention", "caused by Delay"; a cross-reference, "Schedule A.") were then
  traced to their general cause (the rules read a word's form, not the register of the passage: see
  ``skills/pii/register.py``) and fixed, so it is no longer blind either;
- ``HELD_OUT_2_*``: written before that fix and before any run on it, from kinds of document none of the
  sets above used, with names from many cultures; run once, after the fix, for the acceptance figures.

The bars are the issue's: on entity-free sentences at most 5 % get a PERSON span, and signature-block
names are found at least 90 % of the time. The synthetic PII evaluation is guarded by test_pii_guard.py.
"""

from __future__ import annotations

import time

import pytest

from slmkit.guard.redact import redact
from slmkit.skills.pii import Pii, register

DEV_NO_ENTITY = [
    "This Loan Agreement is entered into by and among the Borrower, the Lenders party hereto and the "
    "Administrative Agent.",
    "Each Person that becomes a Lender after the Closing Date shall deliver the documents required by Section 2.14.",
    "The Company shall not, and shall not permit any Subsidiary to, incur any Indebtedness except Permitted "
    "Indebtedness.",
    "Notwithstanding the foregoing, the Guarantor may assign its rights under this Guaranty with the prior written "
    "consent of the Required Lenders.",
    '"Material Adverse Effect" means a material adverse effect on the business, assets or financial condition of '
    "the Borrower and its Subsidiaries.",
    "The Licensee shall indemnify and hold harmless the Licensor from any Losses arising out of a breach of this "
    "Agreement.",
    "Upon the occurrence of an Event of Default, the Administrative Agent may, at the request of the Required "
    "Lenders, terminate the Commitments.",
    "The Purchaser acknowledges that the Seller makes no representation regarding the Purchased Assets except as "
    "set forth in Article IV.",
    "Confidential Information shall not include information that is or becomes generally available to the public.",
    "The Parties agree that the Escrow Agent shall release the Escrow Amount to the Sellers' Representative.",
    "IN WITNESS WHEREOF, the parties have executed this Agreement as of the Effective Date.",
]

# Written after the rules, from other kinds of agreement; not tuned on.
CHECK_NO_ENTITY = [
    "Tenant shall pay to Landlord the Base Rent in equal monthly installments in advance on the first day of "
    "each month.",
    "Landlord may enter the Premises at reasonable times upon prior notice to Tenant.",
    "The Executive shall devote substantially all of the Executive's business time to the affairs of the Employer.",
    "Any Dispute arising under this Agreement shall be finally settled by binding arbitration.",
    "The Receiving Party shall hold the Disclosing Party's Confidential Information in strict confidence.",
    "Licensor hereby grants to Licensee a non-exclusive, non-transferable license to use the Software.",
    "The Contractor shall perform the Services in accordance with the Statement of Work.",
    "Each Holder of Series A Preferred Stock shall be entitled to receive dividends when declared by the Board.",
    "The Merger Sub shall be merged with and into the Target, and the separate existence of Merger Sub shall cease.",
    "Buyer shall deliver the Purchase Price to Seller at the Closing by wire transfer of immediately available "
    "funds.",
    "The Servicer shall remit all Collections to the Collection Account within two Business Days.",
    "The Supplier warrants that the Products shall conform to the Specifications.",
    "No Party may assign this Agreement without the prior written consent of the other Party.",
    "The Trustee shall give notice of any Default to the Holders within ninety days.",
    "Customer shall pay all Fees within thirty days of the date of the applicable Invoice.",
    "The Partnership shall maintain the Capital Accounts in accordance with the Code and the Treasury Regulations.",
    "Such Lender shall promptly notify the Borrower of any Change in Law affecting its Loans.",
    "The Indemnifying Party shall assume the defense of any Third Party Claim.",
    "Distributor shall use commercially reasonable efforts to promote the sale of the Products in the Territory.",
    "Franchisee shall operate the Franchised Business in compliance with the Manual.",
    "Employee acknowledges receipt of the Company's Employee Handbook.",
    "The Collateral Agent shall hold the Collateral for the benefit of the Secured Parties.",
    "All Intellectual Property Rights in the Deliverables shall vest in the Client upon payment.",
    "The Board may amend the Plan at any time, subject to the approval of the Stockholders.",
    "Consultant shall be an independent contractor and not an employee of the Company.",
    "Any Notice given under this Agreement shall be in writing and delivered to the Notice Address.",
    "The Guaranteed Obligations shall remain in full force until paid in full.",
    "Subscriber represents and warrants that it is an Accredited Investor.",
    "The Lessee shall keep the Equipment insured against all risks.",
    "The Sponsor shall reimburse the Institution for the Study Costs.",
]

# A second held-out set, written last and run once for the figures in the issue note (the first was
# looked at while the rules were finished: it showed bare roles, "pay to Landlord", and heading lines).
HELD_OUT_NO_ENTITY = [
    "The Insurer shall not be liable for any Loss arising from a Pre-Existing Condition.",
    "Insured must notify the Insurer of any Claim as soon as practicable.",
    "The Contractor shall complete the Works by the Date for Completion.",
    "Owner may withhold Retention from each Progress Payment.",
    "The Grantor hereby grants to the Secured Party a security interest in the Collateral.",
    "Any Proceeds shall be applied first to the Secured Obligations.",
    "Subscriber may terminate the Subscription Term upon written notice to Provider.",
    "Provider shall make the Service available in accordance with the Service Level Agreement.",
    "The Releasing Parties hereby release the Released Parties from all Claims.",
    "The Settlement Amount shall be paid into the Escrow Account within ten Business Days.",
    "The Trustee shall distribute the Trust Estate to the Beneficiaries in equal shares.",
    "Settlor reserves the right to revoke this Trust Agreement.",
    "The Shipper shall deliver the Goods to the Carrier at the Port of Loading.",
    "Carrier shall not be responsible for Delay caused by Force Majeure.",
    "The Developer shall obtain all Permits required for the Project.",
    "Each Underwriter severally agrees to purchase the Firm Shares.",
    "The Issuer shall file the Registration Statement with the Commission.",
    "Purchaser shall bear all Transfer Taxes incurred in connection with the Transaction.",
    "The Agent shall maintain the Register at its Lending Office.",
    "Borrower shall deliver a Compliance Certificate with each set of Financial Statements.",
    "The Sublessee shall comply with all terms of the Master Lease.",
    "Vendor shall maintain Insurance with an insurer rated A- or better.",
    "The Member shall make Capital Contributions as set forth on Schedule A.",
    "Manager may not cause the Company to incur Debt without Member Approval.",
    "The Assignor hereby assigns to the Assignee all of its Rights under the Assigned Contracts.",
]
HELD_OUT_SIGNATURES = {
    "INSURER:\nBy: /s/ Bogdan Ionescu\nName: Bogdan Ionescu\nTitle: Head of Claims": ["Bogdan Ionescu"],
    "OWNER\nBy: /s/ Thandiwe Nkosi\nIts: Director": ["Thandiwe Nkosi"],
    "/s/ Mateus Carvalho\nMateus Carvalho, Trustee": ["Mateus Carvalho"],
    "Witnessed by: Keiko Tanabe": ["Keiko Tanabe"],
    "By: /s/ ELEANOR FITZGERALD-WAUGH\nName: ELEANOR FITZGERALD-WAUGH\nTitle: President": ["ELEANOR FITZGERALD-WAUGH"],
    "SETTLOR\nSignature: Arvid Holmqvist": ["Arvid Holmqvist"],
    "By: /s/ Lucía Fernández de la Vega\nName: Lucía Fernández de la Vega": ["Lucía Fernández de la Vega"],
    "Agreed by: Tomasz Wiśniewski\nDate: 4 June 2020": ["Tomasz Wiśniewski"],
    "By: /s/ Grace Young\nName: Grace Young\nTitle: Authorized Signatory": ["Grace Young"],
    "Notary Public: Dmitri Volkov": ["Dmitri Volkov"],
}

# HELD_OUT_2: written 2026-12-01 at 07:45 UTC, BEFORE the rules were changed for the three HELD_OUT failures
# and before this set was run on anything; run once, after the rules were final, for the acceptance figures
# (see the closing note of issue 19), and not tuned on afterwards. Kinds of document none of the sets above
# drew from: court pleadings and orders, wills and powers of attorney, data processing, derivatives, power
# purchase, collective bargaining, shareholder and board papers, aircraft leases, reinsurance, grants and
# research, family and separation agreements, terms of service, joint ventures, sponsorship, equity awards,
# consent decrees, hotel management, recording, public procurement, mortgages, arbitral awards, affidavits.
# The one run (08:24 UTC; the rules before the register had 5 of 51, 0.098): 1 of 51 entity-free sentences
# with a PERSON span (0.020: "Foreground IP", an acronym inside a term), signature-block names 21 of 21 (1.0),
# names in prose 11 of 12 (0.917: the NER found nothing in "Plaintiff Wanjiru Kamau alleges", and the
# capitals rule gave up on a run that opens with a role). Both causes were fixed after that run (an acronym
# beside a term's dictionary words in a formal passage; a role before a name, "Senator Kamau"), so from then
# on this set too is no longer blind: the figures above are the acceptance figures, the 0 and 1.0 now are not.
HELD_OUT_2_NO_ENTITY = [
    "IT IS HEREBY ORDERED that Defendant's Motion to Dismiss is DENIED.",
    "Plaintiff respectfully requests that the Court enter judgment in its favor on Count II of the Complaint.",
    "Defendants shall file their Answer within twenty-one days after service of the Summons.",
    "The Magistrate Judge's Report and Recommendation is ADOPTED in its entirety.",
    "Pursuant to Local Rule 7.1, counsel for Movant conferred with counsel for Respondent before filing this Motion.",
    "WHEREFORE, Petitioner prays that the Court grant the Writ and award such further relief as is just.",
    "Any Objection to the Proposed Settlement must be filed with the Clerk of Court no later than the Objection "
    "Deadline.",
    "The Class Representatives and Class Counsel shall move for Final Approval at least fourteen days before the "
    "Fairness Hearing.",
    "Appellant contends that the Trial Court abused its discretion in excluding the Expert Report.",
    "The Principal hereby appoints the Attorney-in-Fact to act in the Principal's name with respect to all Banking "
    "Transactions.",
    "I give the residue of my Estate to my Trustee, to be held upon the trusts declared in Clause 5.",
    "My Executor shall pay my funeral expenses and Debts out of the Residuary Estate.",
    "The Processor shall process Personal Data only on documented instructions from the Controller.",
    "Sub-processor shall notify Processor without undue delay after becoming aware of a Personal Data Breach.",
    "Each Transaction shall be governed by the Master Agreement and the relevant Confirmation.",
    "If an Early Termination Date occurs, the Non-defaulting Party shall determine the Close-out Amount.",
    "Seller shall deliver the Contract Energy to the Delivery Point and Buyer shall accept and pay for it.",
    "The Commercial Operation Date shall occur no later than the Guaranteed COD.",
    "The Union recognizes the right of Management to direct the Workforce and to assign Overtime.",
    "Grievances not resolved at Step Two may be referred to Arbitration by either party.",
    "No Shareholder shall Transfer any Shares except in accordance with the Right of First Refusal.",
    "Special Meetings of the Board of Directors may be called by the Chairperson or by any two Directors.",
    "RESOLVED, that the Officers of the Corporation be, and each of them hereby is, authorized to execute the "
    "Amendment.",
    "A Drag-Along Notice shall specify the Proposed Sale Price and the Drag-Along Completion Date.",
    "Lessee shall return the Aircraft to Lessor at the Return Location in the Return Condition.",
    "Maintenance Reserves shall be paid monthly in arrears based on Flight Hours and Cycles.",
    "The Reinsurer shall indemnify the Reinsured for Ultimate Net Loss in excess of the Attachment Point.",
    "Cedent shall provide Bordereaux to Reinsurer within forty-five days after the end of each Quarter.",
    "The Grantee shall submit an Interim Report describing progress against the Milestones.",
    "Foreground IP generated solely by one Party shall be owned by that Party.",
    "Unspent Grant Funds shall be returned to the Funder within sixty days of the End Date.",
    "Husband waives any interest in Wife's Separate Property, including any appreciation thereof.",
    "The Parenting Plan shall govern Custody of the Minor Children until further Order.",
    "In consideration of the Severance Payment, Employee waives any right to Reinstatement.",
    "The Restricted Period shall end twelve months after the Separation Date.",
    "User may not reverse engineer the Application or remove any Proprietary Notices.",
    "These Terms constitute the entire agreement between You and Us regarding the Platform.",
    "Each Venturer shall contribute its Pro Rata Share of any Additional Capital requested by the Management "
    "Committee.",
    "Sponsor shall receive Category Exclusivity and the Hospitality Package described in Exhibit C.",
    "Escrow Agent shall have no duty to inquire into the validity of any Joint Written Direction.",
    "Unvested Restricted Stock Units shall be forfeited upon Participant's Termination of Service.",
    "Optionee may exercise the Option only for Vested Shares.",
    "Settling Defendant shall pay Stipulated Penalties for each day of Noncompliance.",
    "Operator shall prepare an Annual Plan for Owner's review no later than sixty days before each Fiscal Year.",
    "Artist shall deliver each Master Recording to Label in a Technically Satisfactory form.",
    "The Contracting Officer may issue a Stop-Work Order at any time during Performance.",
    "Tenderers must submit the Pricing Schedule in the format prescribed by the Authority.",
    "Trustor irrevocably grants to Trustee, in trust for Beneficiary, with power of sale, the Property.",
    "Mortgagor shall keep the Mortgaged Premises in good repair and shall not commit Waste.",
    "The Tribunal finds that Claimant has failed to prove Causation on the balance of probabilities.",
    "Affiant further states that the Exhibits attached hereto are true and correct copies.",
]
HELD_OUT_2_SIGNATURES = {
    "PLAINTIFF'S COUNSEL\nRespectfully submitted,\n/s/ Adaeze Okonkwo-Bello\nAdaeze Okonkwo-Bello (Bar No. 284511)":
        ["Adaeze Okonkwo-Bello"],
    "SO ORDERED.\n/s/ Miriam Castellanos\nUnited States District Judge": ["Miriam Castellanos"],
    "PRINCIPAL\nSigned: Nguyen Thi Thu Ha\nDate: 2 February 2024": ["Nguyen Thi Thu Ha"],
    "By: /s/ Rajesh Venkataraman\nName: Rajesh Venkataraman\nTitle: Chief Executive Officer": ["Rajesh Venkataraman"],
    "SIGNED by Kenji Watanabe\nin the presence of:\nWitness: Aiko Matsumoto": ["Kenji Watanabe", "Aiko Matsumoto"],
    "For and on behalf of the Processor:\nName: Fatemeh Rahimi-Nejad\nPosition: Data Protection Officer":
        ["Fatemeh Rahimi-Nejad"],
    "EXECUTOR\n/s/ Seamus Ó Briain": ["Seamus Ó Briain"],
    "By: /s/ Oluwaseun Adebayo-Smith\nIts: Authorized Signatory": ["Oluwaseun Adebayo-Smith"],
    "Witness: Gabriela Wójcik-Nowak\nAddress: ____________________": ["Gabriela Wójcik-Nowak"],
    "LESSOR\nBy: /s/ Lars-Erik Halvorsen\nName: Lars-Erik Halvorsen\nTitle: Vice President, Aircraft Leasing":
        ["Lars-Erik Halvorsen"],
    "THE UNION\nBy: /s/ Maria da Conceição Ferreira\nPresident, Local 112": ["Maria da Conceição Ferreira"],
    "Accepted by: Park Ji-hoon\nDate: 15 March 2023": ["Park Ji-hoon"],
    "Notary Public: Yitzhak Ben-David\nMy commission expires: 30 June 2027": ["Yitzhak Ben-David"],
    "By: /s/ Mehmet Yılmaz\nName: Mehmet Yılmaz\nTitle: Managing Director": ["Mehmet Yılmaz"],
    "HUSBAND\n/s/ Tomás Echeverría Ruiz": ["Tomás Echeverría Ruiz"],
    "Agreed by: Zanele Dlamini\nTitle: Director": ["Zanele Dlamini"],
    "By: /s/ Hemi Te Rangi\nName: Hemi Te Rangi": ["Hemi Te Rangi"],
    "Attest: Anastasia Pavlovna Sokolova\nCorporate Secretary": ["Anastasia Pavlovna Sokolova"],
    "Print Name: Siddharth Iyer\nSignature: ______________": ["Siddharth Iyer"],
    "By: /s/ Katalin Szabó\nName: Katalin Szabó\nTitle: General Counsel": ["Katalin Szabó"],
}
HELD_OUT_2_NAMED = {
    "John Smith, the Chief Executive Officer of the Company, shall serve as the initial Manager.": ["John Smith"],
    "This Separation Agreement is entered into by and between the Company and Priyanka Deshmukh (\"Employee\").":
        ["Priyanka Deshmukh"],
    "The Court has reviewed the Declaration of Emeka Nwosu filed in support of the Motion.": ["Emeka Nwosu"],
    "Notices to the Licensor shall be addressed to the attention of Ms. Ingeborg Aasen, General Counsel.":
        ["Ingeborg Aasen"],
    "The Parties appoint Hiroshi Takahashi as sole arbitrator.": ["Hiroshi Takahashi"],
    "Plaintiff Wanjiru Kamau alleges that Defendant failed to pay overtime wages.": ["Wanjiru Kamau"],
    "Each of Aleksander Nowicki and Sofia Marchetti shall serve as a Director until a successor is elected.":
        ["Aleksander Nowicki", "Sofia Marchetti"],
    "I appoint my daughter, Leilani Kahananui, as Executor of this Will.": ["Leilani Kahananui"],
    "The Escrow Agent shall release the Deposit upon joint instructions signed by Omar Haddad and Li Na.":
        ["Omar Haddad", "Li Na"],
    "Deposition of Bartholomew Ashworth-Grey, taken on behalf of Defendant.": ["Bartholomew Ashworth-Grey"],
}

DEV_SIGNATURES = {
    "By: /s/ Margaret O'Donnell\nName: Margaret O'Donnell\nTitle: Chief Financial Officer": ["Margaret O'Donnell"],
    "By: /s/ Tobias Lindqvist\nName: Tobias Lindqvist\nTitle: Managing Director": ["Tobias Lindqvist"],
    "ACME HOLDINGS, INC.\nBy: /s/ Daniel Okafor\nIts: President": ["Daniel Okafor"],
    "Witness: Priya Raman": ["Priya Raman"],
}

CHECK_SIGNATURES = {
    "LANDLORD:\nBy: /s/ Kwame Mensah-Boateng\nName: Kwame Mensah-Boateng\nTitle: Authorized Signatory":
        ["Kwame Mensah-Boateng"],
    "TENANT:\nBy: /s/ Ingrid van der Berg\nIts: Chief Operating Officer": ["Ingrid van der Berg"],
    "EXECUTIVE\n/s/ Rafael Quintero\nDate: March 3, 2021": ["Rafael Quintero"],
    "By: /s/ J. Harlan Whitcombe\nName: J. Harlan Whitcombe\nTitle: Secretary": ["J. Harlan Whitcombe"],
    "By: ______________________\nName: SIOBHAN MCALLISTER\nTitle: Vice President": ["SIOBHAN MCALLISTER"],
    "Signed: Yusuf Demirci\nWitness: Lotte Haugland": ["Yusuf Demirci", "Lotte Haugland"],
    "BORROWER:\nGRAYSTONE PARTNERS LLC\nBy: /s/ Aoife Brennan\nName: Aoife Brennan\nTitle: Managing Member":
        ["Aoife Brennan"],
    "Accepted and agreed:\nBy: /s/ Chen Wei-Ling\nPrinted Name: Chen Wei-Ling": ["Chen Wei-Ling"],
    "Attest: Marguerite Delacroix-Fournier\nSecretary": ["Marguerite Delacroix-Fournier"],
    "By: /s/ Olumide Adeyemi\nName: Olumide Adeyemi\nTitle: General Counsel": ["Olumide Adeyemi"],
    "CONSULTANT\nSignature: Henrik Sørensen\nDate: 12 May 2022": ["Henrik Sørensen"],
    "By: /s/ Rose Hill\nName: Rose Hill\nTitle: Treasurer": ["Rose Hill"],
}

# Names in contract prose that must still be found, beside the terms.
CHECK_NAMED = {
    "This Employment Agreement is made between Northwind Analytics, Inc. (the \"Company\") and Zofia Kaczmarek "
    "(the \"Executive\").": ["Zofia Kaczmarek"],
    "The Company shall reimburse Mr. Delgado for reasonable travel expenses incurred on its behalf.": ["Delgado"],
    "Notices to the Executive shall be sent to Anneliese Vogt at her home address.": ["Anneliese Vogt"],
}

WRITTEN_EMAILS = {
    "Notices to the Company shall be sent to legal notices at jane dot smith at acme dot com.":
        "jane dot smith at acme dot com",
    "Send notices to the Executive at r.patel @ westbrookcapital.com with a copy to counsel.":
        "r.patel @ westbrookcapital.com",
    "Copies may be sent to m.okafor [at] lindenlaw [dot] co [dot] uk.": "m.okafor [at] lindenlaw [dot] co [dot] uk",
}


@pytest.fixture(scope="module")
def pii() -> Pii:
    return Pii().warm_up()


def _people(pii: Pii, text: str) -> list[str]:
    return [s.text for s in pii(text) if s.type == "PERSON"]


def person_span_rate(pii: Pii, sentences: list[str]) -> float:
    return sum(bool(_people(pii, s)) for s in sentences) / len(sentences)


def signature_recall(pii: Pii, blocks: dict[str, list[str]]) -> float:
    found = total = 0
    for block, people in blocks.items():
        masked = redact(block, pii(block), "mask").text
        total += len(people)
        found += sum(person not in masked for person in people)
    return found / total


# The bar on every set. The first held-out set missed it at first: 3 of 25 sentences (0.12) kept a
# PERSON span, on a lone capitalised dictionary word in mid-sentence ("withhold Retention", "caused by Delay")
# and on a cross-reference ("Schedule A."). The rules had taken a capitalised word for a term only where its
# form or neighbours said so (a role ending, a determiner, a contract verb after it); what says so in these
# sentences is the register of the passage, which skills/pii/register.py now reads. A rule that took every
# such word for a term in any text had reached 0.04 but hid real one-word names ("Impi", "Wit", "given Even
# his address") and cost the synthetic evaluation 11 surviving names: the register keeps it to contracts.
_PERSON_RATE_BAR = {"dev": 0.05, "check": 0.05, "held-out": 0.05, "held-out-2": 0.05}


@pytest.mark.parametrize(("name", "sentences"), [("dev", DEV_NO_ENTITY), ("check", CHECK_NO_ENTITY),
                                                 ("held-out", HELD_OUT_NO_ENTITY),
                                                 ("held-out-2", HELD_OUT_2_NO_ENTITY)])
def test_defined_terms_are_not_people(pii: Pii, name: str, sentences: list[str]) -> None:
    rate = person_span_rate(pii, sentences)
    assert rate <= _PERSON_RATE_BAR[name], (rate, [(s, _people(pii, s)) for s in sentences if _people(pii, s)])


@pytest.mark.parametrize("blocks", [DEV_SIGNATURES, CHECK_SIGNATURES, HELD_OUT_SIGNATURES, HELD_OUT_2_SIGNATURES],
                         ids=["dev", "check", "held-out", "held-out-2"])
def test_signature_block_names_are_found(pii: Pii, blocks: dict[str, list[str]]) -> None:
    recall = signature_recall(pii, blocks)
    assert recall >= 0.9, (recall, {b: pii(b) for b in blocks})


def test_names_in_contract_prose_are_still_found(pii: Pii) -> None:
    for text, people in {**CHECK_NAMED, **HELD_OUT_2_NAMED}.items():
        masked = redact(text, pii(text), "mask").text
        assert all(person not in masked for person in people), (text, pii(text))


def test_capitals_are_read_by_the_register_of_the_passage(pii: Pii) -> None:
    """In a contract a capitalised dictionary word is a term wherever it stands; in chat it is still a name,
    and in a contract a name still reads as one (a rarer given name, a given name and surname, "Ms.")."""
    assert not _people(pii, "The Borrower shall repay the Loan in full on the Maturity Date, as set out in "
                            "Schedule B, and Lender may charge Interest on any Overdue Amount.")
    # "Loan" is a given name in one of the name lists' locales: after "the" it is a term all the same.
    assert not _people(pii, "The Borrower shall pay the Loan to Bank of America, N.A. in Charlotte.")
    assert {"Will", "Hope"} <= set(_people(pii, "I told Will and Hope that the Bank closes early."))
    for text, name in (("Notices shall be sent to Grace at the address below.", "Grace"),
                       ("The Seller shall deliver the Shares to Mark Young at the Closing.", "Mark Young"),
                       ("The Parties agree that Ms. Rose shall act as mediator.", "Rose")):
        assert name in _people(pii, text), (text, pii(text))


def test_the_register_is_read_around_each_span() -> None:
    """A contract quoted below a chat message makes the contract formal, not the chat above it."""
    chat = "Lunch with Will went well, see the clause he sent below. "
    contract = ("The Tenant shall pay the Rent to Landlord on each Payment Date, and Landlord may "
                "withhold Consent to any Assignment. ")
    text = chat + "\n" + "x " * register.REACH + "\n" + contract
    will, rent = text.index("Will"), text.index("Consent")
    assert not register.is_formal(text, will, will + 4)
    assert register.is_formal(text, rent, rent + 7)


@pytest.mark.parametrize("unit", [". " + " " * 99_998, "the " * 25_000, "\n" + "-" * 99_999,
                                  "Owner may withhold Retention from each Progress Payment. " * 1_800])
def test_the_register_is_read_in_linear_time(unit: str) -> None:
    """The cue patterns on 100,000 characters (the gateway's longest text): a run of blanks after a full
    stop was read again from each blank by a first version, and every span of a long contract asks."""
    text = unit[:100_000]
    started = time.process_time()
    for at in range(0, len(text), 1_000):  # a hundred spans asking, the cues found once
        register.is_formal(text, at, at + 5)
    assert time.process_time() - started <= 1.0


def test_a_legal_form_after_a_determiner_names_no_company(pii: Pii) -> None:
    assert not [s for s in pii("The Company shall keep such Corporation informed.") if s.type == "ORGANIZATION"]
    assert ("ORGANIZATION", "Northwind Analytics, Inc.") in {
        (s.type, s.text) for s in pii("The Company is Northwind Analytics, Inc. of Delaware.")}


def test_email_addresses_written_out_are_emails(pii: Pii) -> None:
    for text, value in WRITTEN_EMAILS.items():
        assert ("EMAIL", value) in {(s.type, s.text) for s in pii(text)}, (text, pii(text))
    for text in ("We met at example.com yesterday.", "Look at this dot com company.", "Write to a@b.co now."):
        assert not [s for s in pii(text) if s.type == "EMAIL" and " " in s.text], (text, pii(text))
